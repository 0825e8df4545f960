"""The `streamkpi` console script: run, ingest, simulate, snapshot, rejected.

Every flag also reads STREAMKPI_<FLAG>; --help shows each flag's default and
variable. Exit codes: 0 success, 2 usage error, 1 anything else, with a
one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

from engine import settings as settings_mod
from engine.settings import ENV_PREFIX, SettingError, Settings


class UsageError(Exception):
    """Bad flags or arguments: exit code 2."""


class BadEnv:
    """A STREAMKPI_* value that did not convert; reported only if its flag is used."""

    def __init__(self, var: str, raw: str, reason: str) -> None:
        self.message = f"{var}={raw!r}: {reason}"

    def __repr__(self) -> str:
        return "<invalid>"


class EnvDefault(argparse.Action):
    """A flag whose default comes from STREAMKPI_<DEST>, read once when the parser is
    built, and shown with the built-in default in --help (model: bytewax run.py)."""

    def __init__(
        self,
        option_strings: list[str],
        dest: str,
        environ: Mapping[str, str],
        default: Any = None,
        type: Any = None,  # noqa: A002 - argparse's own keyword
        help: str | None = None,  # noqa: A002
        **kwargs: Any,
    ) -> None:
        var = ENV_PREFIX + dest.upper()
        raw = environ.get(var)
        shown = default
        if raw not in (None, ""):
            try:
                default = settings_mod.convert(raw, self.kind(type))
            except ValueError as exc:
                default = BadEnv(var, raw, str(exc))
        note = f"env {var}" if shown in (None, False) else f"default {shown}; env {var}"
        help = f"{help} ({note})" if help else f"({note})"
        super().__init__(option_strings, dest, default=default, type=type, help=help, **kwargs)

    @staticmethod
    def kind(type_: Any) -> type:
        return type_ if isinstance(type_, type) else str

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        setattr(namespace, self.dest, values)


class EnvFlag(EnvDefault):
    """An on/off flag; STREAMKPI_<DEST> accepts 1/0, true/false, yes/no, on/off."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("default", False)
        super().__init__(option_strings, dest, nargs=0, type=bool, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        setattr(namespace, self.dest, True)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    """An env-backed flag; `action="store_true"` becomes an env-backed on/off flag."""
    dest = name.lstrip("-").replace("-", "_")
    action = EnvFlag if kwargs.pop("action", None) == "store_true" else EnvDefault
    environ = getattr(parser, "environ", os.environ)
    parser.add_argument(name, dest=dest, action=action, environ=environ, **kwargs)


def _setting(parser: argparse.ArgumentParser, name: str, help: str, **kwargs: Any) -> None:  # noqa: A002
    """A flag for the Settings field `name`, with the field's type and default."""
    field = Settings.__dataclass_fields__[name]
    kwargs.setdefault("metavar", METAVARS.get(settings_mod.kind_of(name), name.upper()))
    _flag(
        parser,
        "--" + settings_mod.flag_name(name),
        type=settings_mod.kind_of(name),
        default=field.default,
        help=help,
        **kwargs,
    )


METAVARS = {int: "N", float: "SECONDS"}
CONNECTION = {
    "bootstrap": "Kafka bootstrap server HOST:PORT",
    "prefix": "topic prefix",
    "partitions": "partitions of the topics the engine creates",
    "connect_timeout": "seconds to wait for an unreachable broker",
    "log_level": "debug, info, warning, error",
    "security_protocol": "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    "sasl_mechanism": "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    "sasl_username": "SASL user (the password only from STREAMKPI_SASL_PASSWORD)",
    "ssl_cafile": "CA bundle that signed the broker's certificate",
}
WORKER = {
    "metrics_port": "port of /metrics and /healthz (0 = any free port)",
    "metrics_bind": "address of /metrics and /healthz",
    "broker_port": "port of the embedded broker (0 = any free port)",
    "currency": "reporting currency (ISO 4217)",
    "group": "consumer group shared by the workers of one deployment",
    "targets": "TOML file of KPI targets (default: the packaged targets)",
    "max_features": "feature label cap",
    "max_plans": 'plan label cap (the rest summed as plan="other")',
    "max_segments": 'segment label cap per dimension (the rest merged as segment="other")',
    "session_timeout": "Kafka group session timeout, seconds",
    "snapshot_interval": "seconds between store snapshots (0 = off; docs/reliability.md)",
    "commit_interval": "seconds between offset commits",
    "stream_buffer": "caps the input queue: at most min(8, N) partition batches per input topic",
    "publish_interval": "seconds between usage-state publications",
    "fact_interval": "seconds between facts flushes",
    "report_interval": "seconds a computed report is reused by scrapes",
}
TOP_EPILOG = """\
Every flag also reads STREAMKPI_<FLAG>; `streamkpi COMMAND --help` lists each
with its default. Exit codes: 0 ok, 2 usage error, 1 anything else (one line
on stderr). Events to send: docs/events.md; KPIs: docs/kpis.md."""
SECRET_NOTE = "The SASL password is read only from STREAMKPI_SASL_PASSWORD (never a flag)."


def _settings_flags(parser: argparse.ArgumentParser, table: dict[str, str]) -> None:
    group = parser.add_argument_group("settings")
    group.environ = parser.environ  # type: ignore[attr-defined]
    for name, text in table.items():
        _setting(group, name, text)  # type: ignore[arg-type]


def _sub(sub: Any, name: str, environ: Mapping[str, str], **kwargs: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=SECRET_NOTE, **kwargs
    )
    parser.environ = environ
    return parser


def _run_parser(sub: Any, environ: Mapping[str, str]) -> None:
    run = _sub(sub, "run", environ, help="run a worker (embedded broker when no --bootstrap)")
    _flag(run, "--simulate", action="store_true", help="feed a live simulated business")
    _flag(run, "--input", type=Path, metavar="FILE", help="produce a JSONL file first")
    _flag(run, "--table-every", type=float, default=0.0, help="dashboard refresh seconds, 0 off")
    _flag(run, "--customers", type=int, default=200, help="simulated customers (--simulate)")
    _flag(run, "--days", type=int, default=60, help="simulated backfill days (--simulate)")
    _flag(run, "--seed", type=int, default=1, help="simulation seed (--simulate)")
    _simulation_flags(run)
    _settings_flags(run, {**CONNECTION, **WORKER})


def _simulation_flags(parser: argparse.ArgumentParser) -> None:
    """The live clock and the incidents of the simulator (docs/simulation.md)."""
    from engine.simulation.incidents import INCIDENTS, incident_when

    _flag(parser, "--speed", type=float, default=1.0, help="live clock speed-up (1: real time)")
    _flag(parser, "--incident", choices=INCIDENTS, help="fire an incident on purpose")
    _flag(parser, "--incident-at", type=incident_when, metavar="WHEN", help="day, time, +90m, -3d")


def _other_parsers(sub: Any, environ: Mapping[str, str]) -> None:
    ingest = _sub(sub, "ingest", environ, help="produce a JSONL file to the right topics")
    ingest.add_argument("file", type=Path, help="JSONL: one event or batch per line")
    _settings_flags(ingest, CONNECTION)
    simulate = _sub(sub, "simulate", environ, help="write a realistic, reproducible history")
    _flag(simulate, "--out", type=Path, metavar="FILE", help="JSONL file to write")
    _flag(simulate, "--customers", type=int, default=200, help="simulated customers")
    _flag(simulate, "--days", type=int, default=90, help="days of history")
    _flag(simulate, "--seed", type=int, default=1, help="random seed")
    _flag(simulate, "--live", action="store_true", help="produce live to Kafka, not a file")
    _simulation_flags(simulate)
    _settings_flags(simulate, {**CONNECTION, "currency": WORKER["currency"]})
    snapshot = _sub(sub, "snapshot", environ, help="print the KPIs of a running deployment")
    _flag(snapshot, "--url", default="http://127.0.0.1:8000/metrics", help="a worker's /metrics")
    _flag(snapshot, "--json", action="store_true", help="JSON instead of the dashboard")
    _flag(snapshot, "--currency", default="USD", help="the deployment's reporting currency")
    rejected = _sub(sub, "rejected", environ, help="print the latest dead letters with reasons")
    _flag(rejected, "--limit", type=int, default=20, help="how many of the latest to print")
    _flag(rejected, "--json", action="store_true", help="one JSON dead letter per line")
    _settings_flags(rejected, CONNECTION)


def _version() -> str:
    try:
        return metadata.version("streamkpi")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; the only place that reads STREAMKPI_* variables."""
    env = os.environ if environ is None else environ
    parser = Parser(
        prog="streamkpi",
        description="Exact SaaS KPIs from Kafka events, served as live Prometheus gauges.",
        epilog=TOP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"streamkpi {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _run_parser(sub, env)
    _other_parsers(sub, env)
    from engine.stripe.commands import register as register_stripe  # T1: stripe subcommands

    register_stripe(sub, _flag, env)
    return parser


def settings_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """The frozen Settings of the parsed flags (secrets from the environment only)."""
    env = os.environ if environ is None else environ
    names = Settings.__dataclass_fields__
    values = {k: v for k, v in vars(args).items() if k in names}
    password = env.get(settings_mod.env_name("sasl_password"))
    if password:
        values["sasl_password"] = password
    return Settings(**values)


def _check_env(args: argparse.Namespace) -> None:
    for value in vars(args).values():
        if isinstance(value, BadEnv):
            raise UsageError(value.message)


def _logging(level: str) -> None:
    if level.lower() not in settings_mod.LOG_LEVELS:
        raise SettingError(f"--log-level / STREAMKPI_LOG_LEVEL {level!r}: not a log level")
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def cmd_run(args: argparse.Namespace) -> int:
    from engine.worker import RunOptions, check_metrics_port, run_worker

    settings = settings_from(args)
    if args.input is not None and not args.input.is_file():
        raise UsageError(f"--input {args.input}: no such file")
    _check_targets(settings.targets)
    check_metrics_port(settings)
    options = RunOptions(args.input, args.simulate, args.table_every, _sim(args))
    return run_worker(settings, options)


def _check_targets(path: str | None) -> None:
    """A bad --targets file is a usage error naming the file, before anything starts."""
    import tomllib

    from engine.targets import load_targets

    try:
        load_targets(path)
    except FileNotFoundError:
        raise UsageError(f"--targets {path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--targets {path}: TOML syntax error: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"--targets {path or 'defaults'}: {exc}") from None


def _sim(args: argparse.Namespace) -> Any:
    from engine.worker import SimOptions

    if args.customers < 1 or args.days < 1:
        raise UsageError("--customers and --days must be at least 1")
    if args.speed <= 0 or (args.incident_at is not None and args.incident is None):
        raise UsageError("--speed must be > 0; --incident-at needs --incident")
    return SimOptions(
        args.customers, args.days, args.seed, args.speed, args.incident, args.incident_at
    )


def _need_bootstrap(settings: Settings, what: str) -> None:
    if not settings.bootstrap:
        raise UsageError(f"{what} needs --bootstrap HOST:PORT (or STREAMKPI_BOOTSTRAP)")


def cmd_ingest(args: argparse.Namespace) -> int:
    from engine.broker import wait_for_broker
    from engine.ingest import count_lines, produce, read_lines
    from engine.kafka import client_options

    settings = settings_from(args)
    _need_bootstrap(settings, "ingest")
    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")

    async def go() -> int:
        await wait_for_broker(client_options(settings), timeout=settings.connect_timeout)
        return await produce(settings, read_lines(args.file), count_lines(args.file))

    sent = asyncio.run(go())
    print(f"produced {sent} messages from {args.file}", file=sys.stderr)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from engine.simulation import write_history
    from engine.simulation.simulator import history_config

    sim = _sim(args)
    if args.live:
        from engine.worker import run_simulation

        settings = settings_from(args)
        _need_bootstrap(settings, "simulate --live")
        return run_simulation(settings, sim)
    if args.out is None:
        raise UsageError("simulate needs --out FILE (or --live)")
    try:
        config = history_config(sim.customers, sim.days, sim.seed, sim.incident, sim.incident_at)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    lines = write_history(config, args.out)
    print(f"wrote {lines} lines to {args.out}", file=sys.stderr)
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from engine.dashboard import print_once
    from engine.snapshot import fetch, to_json

    samples = fetch(args.url)
    if args.json:
        print(to_json(samples))
    else:
        print_once(samples, args.currency, args.url)
    return 0


def cmd_rejected(args: argparse.Namespace) -> int:
    from engine.deadletters import format_letter, latest

    settings = settings_from(args)
    _need_bootstrap(settings, "rejected")
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    letters = asyncio.run(latest(settings, args.limit))
    for letter in letters:
        print(format_letter(letter, as_json=args.json))
    if not letters:
        print(f"no dead letters in {settings.topic('rejected')}", file=sys.stderr)
    return 0


COMMANDS = {
    "run": cmd_run,
    "ingest": cmd_ingest,
    "simulate": cmd_simulate,
    "snapshot": cmd_snapshot,
    "rejected": cmd_rejected,
}


def _dispatch(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _check_env(args)
    _logging(getattr(args, "log_level", None) or "warning")
    handler = getattr(args, "handler", None) or COMMANDS[args.command]
    return int(handler(args))


def main(argv: list[str] | None = None) -> int:
    try:
        return _dispatch(argv)
    except (UsageError, SettingError) as exc:
        print(f"streamkpi: usage error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `streamkpi snapshot | head`: the reader left, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        print(f"streamkpi: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # `python -m engine.cli`: run the engine.cli module's main, so that a UsageError
    # raised by another module (engine.stripe, ...) is the class main() catches (exit 2)
    from engine.cli import main as module_main

    sys.exit(module_main())
