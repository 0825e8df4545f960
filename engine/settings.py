"""One frozen settings object, parsed once from flags and STREAMKPI_* env, passed down.

`engine.cli` is the only reader of the environment in a running engine: its
env-backed flags convert each `STREAMKPI_<NAME>` with `convert` (the one place
that knows what "true" means) and build `Settings` once. `load` does the same
for code that has no command line (tests, embedding).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "STREAMKPI_"
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SECRETS = frozenset({"sasl_password"})


class SettingError(ValueError):
    """A flag or STREAMKPI_* value that cannot be used (a usage error, exit 2)."""


@dataclass(frozen=True)
class Settings:
    bootstrap: str | None = None
    metrics_port: int = 8000
    metrics_bind: str = "127.0.0.1"
    broker_port: int = 0
    prefix: str = "saas."
    group: str = "streamkpi"
    currency: str = "USD"
    partitions: int = 4
    max_features: int = 50
    max_plans: int = 50
    max_segments: int = 20
    publish_interval: float = 0.25
    fact_interval: float = 0.05
    report_interval: float = 0.2
    commit_interval: float = 0.5
    stream_buffer: int = 16384
    session_timeout: float = 10.0
    snapshot_interval: float = 60.0
    connect_timeout: float = 60.0
    log_level: str = "warning"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    targets: str | None = None

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise SettingError(problem)

    def topic(self, suffix: str) -> str:
        return self.prefix + suffix

    def __repr__(self) -> str:  # never print secrets
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in SECRETS}
        return f"Settings({shown})"


def _problem(s: Settings) -> str | None:
    """The first value no worker could run with, as one line naming its variable."""
    checks = (
        ("metrics_port", 0 <= s.metrics_port <= 65535, "a port 0..65535"),
        ("broker_port", 0 <= s.broker_port <= 65535, "a port 0..65535 (0 = any free port)"),
        ("partitions", s.partitions >= 1, "at least 1"),
        ("max_features", s.max_features >= 1, "at least 1"),
        ("max_plans", s.max_plans >= 1, "at least 1"),
        ("max_segments", s.max_segments >= 1, "at least 1"),
        ("connect_timeout", s.connect_timeout >= 0, "seconds >= 0"),
        ("session_timeout", s.session_timeout > 0, "seconds > 0"),
        ("snapshot_interval", s.snapshot_interval >= 0, "seconds >= 0 (0 = no snapshots)"),
        ("stream_buffer", s.stream_buffer >= 1, "at least 1"),
        ("currency", len(s.currency) == 3 and s.currency.isupper(), "an ISO 4217 code like USD"),
        ("log_level", s.log_level.lower() in LOG_LEVELS, "one of " + ", ".join(LOG_LEVELS)),
        ("security_protocol", s.security_protocol in PROTOCOLS, "one of " + ", ".join(PROTOCOLS)),
    )
    for name, ok, want in checks:
        if not ok:
            return f"{env_name(name)} / --{flag_name(name)} = {getattr(s, name)!r}: must be {want}"
    return None


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    return name.replace("_", "-")


def kind_of(name: str) -> type:
    """The Python type of a Settings field (str for the optional text ones)."""
    default = Settings.__dataclass_fields__[name].default
    return str if default is None else type(default)


def convert(raw: str, kind: type) -> Any:
    """Text of a flag or variable as `kind`; ValueError with a short reason."""
    if kind is bool:
        low = raw.strip().lower()
        if low in TRUE | FALSE:
            return low in TRUE
        raise ValueError("expected 1/0, true/false, yes/no or on/off")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
    if kind is Path:
        return Path(raw)
    return raw


def load(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults < STREAMKPI_<NAME> environment < explicit overrides (flags)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(env_name(f.name))
        if raw not in (None, ""):
            try:
                values[f.name] = convert(raw, kind_of(f.name))
            except ValueError as exc:
                raise SettingError(f"{env_name(f.name)}={raw!r}: {exc}") from None
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Settings(**values)
