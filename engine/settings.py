"""One frozen settings object, parsed once from flags and STREAMKPI_* env, passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

ENV_PREFIX = "STREAMKPI_"


@dataclass(frozen=True)
class Settings:
    bootstrap: str | None = None
    metrics_port: int = 8000
    metrics_bind: str = "127.0.0.1"
    prefix: str = "saas."
    group: str = "streamkpi"
    currency: str = "USD"
    partitions: int = 4
    max_features: int = 50
    publish_interval: float = 0.25
    fact_interval: float = 0.05
    report_interval: float = 0.2
    commit_interval: float = 0.5
    stream_buffer: int = 16384
    session_timeout: float = 10.0
    connect_timeout: float = 60.0
    log_level: str = "warning"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    targets: str | None = None

    def topic(self, suffix: str) -> str:
        return self.prefix + suffix

    def __repr__(self) -> str:  # never print secrets
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sasl_password"}
        return f"Settings({shown})"


def _coerce(raw: str, like: Any) -> Any:
    if isinstance(like, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    return raw


def load(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Defaults < STREAMKPI_<NAME> environment < explicit overrides (flags)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    defaults = Settings()
    for f in fields(Settings):
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw not in (None, ""):
            values[f.name] = _coerce(raw, getattr(defaults, f.name) or "")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Settings(**values)
