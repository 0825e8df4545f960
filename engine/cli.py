"""The `streamkpi` console script (SPEC §5): run, ingest, simulate, snapshot.

Every flag also reads STREAMKPI_<FLAG>. Exit codes: 0 success, 2 usage error,
1 anything else, with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from engine import settings as settings_mod
from engine.settings import Settings


class UsageError(Exception):
    """Bad flags or arguments: exit code 2."""


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(f"STREAMKPI_{name.upper()}", default)


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    dest = name.lstrip("-").replace("-", "_")
    default = kwargs.pop("default", None)
    env = _env(dest)
    if env is not None and kwargs.get("action") == "store_true":
        default = env.lower() in {"1", "true", "yes", "on"}
    elif env is not None:
        default = kwargs.get("type", str)(env)
    parser.add_argument(name, default=default, dest=dest, **kwargs)


def _common(parser: argparse.ArgumentParser) -> None:
    _flag(parser, "--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap server")
    _flag(parser, "--prefix", help="topic prefix (default saas.)")
    _flag(parser, "--partitions", type=int, help="partitions of the topics the engine creates")
    _flag(parser, "--log-level", help="debug, info, warning (default), error")
    _flag(parser, "--connect-timeout", type=float, help="seconds to retry an unreachable broker")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamkpi", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a worker (embedded broker when no --bootstrap)")
    _common(run)
    _flag(run, "--metrics-port", type=int, help="port of /metrics (default 8000)")
    _flag(run, "--metrics-bind", help="address of /metrics (default 127.0.0.1)")
    _flag(run, "--simulate", action="store_true", help="feed a live simulated business")
    _flag(
        run, "--input", type=Path, metavar="FILE", help="produce a JSONL file into the topics first"
    )
    _flag(run, "--currency", help="reporting currency (default USD)")
    _flag(run, "--group", help="consumer group shared by the workers of one deployment")
    _flag(run, "--targets", metavar="FILE", help="TOML file of KPI targets")
    _flag(run, "--max-features", type=int, help="feature label cap (default 50)")
    _flag(run, "--table-every", type=float, default=0.0, help="print a KPI table every N seconds")
    _flag(run, "--customers", type=int, default=200, help="simulated customers (--simulate)")
    _flag(run, "--days", type=int, default=60, help="simulated backfill days (--simulate)")
    _flag(run, "--seed", type=int, default=1, help="simulation seed (--simulate)")
    ingest = sub.add_parser("ingest", help="produce a JSONL file to the right topics")
    ingest.add_argument("file", type=Path)
    _common(ingest)
    simulate = sub.add_parser("simulate", help="write a realistic, reproducible event history")
    _flag(simulate, "--out", type=Path, metavar="FILE", help="JSONL file to write")
    _flag(simulate, "--customers", type=int, default=200)
    _flag(simulate, "--days", type=int, default=90)
    _flag(simulate, "--seed", type=int, default=1)
    _flag(simulate, "--live", action="store_true", help="produce live to Kafka instead of a file")
    _common(simulate)
    snapshot = sub.add_parser("snapshot", help="print the KPIs of a running deployment")
    _flag(snapshot, "--url", default="http://127.0.0.1:8000/metrics")
    _flag(snapshot, "--json", action="store_true", help="JSON instead of a table")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    names = {f for f in Settings.__dataclass_fields__}
    return settings_mod.load({k: v for k, v in vars(args).items() if k in names})


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def cmd_run(args: argparse.Namespace) -> int:
    from engine.worker import run_worker

    if args.input is not None and not args.input.is_file():
        raise UsageError(f"--input {args.input}: no such file")
    return run_worker(_settings(args), args)


def cmd_ingest(args: argparse.Namespace) -> int:
    from engine.broker import wait_for_broker
    from engine.ingest import count_lines, produce, read_lines
    from engine.kafka import client_options

    settings = _settings(args)
    if not settings.bootstrap:
        raise UsageError("ingest needs --bootstrap HOST:PORT (or STREAMKPI_BOOTSTRAP)")
    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")

    async def go() -> int:
        await wait_for_broker(client_options(settings), timeout=settings.connect_timeout)
        return await produce(settings, read_lines(args.file), count_lines(args.file))

    sent = asyncio.run(go())
    print(f"produced {sent} messages from {args.file}", file=sys.stderr)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from engine.simulation import SimConfig, write_history

    if args.customers < 1 or args.days < 1:
        raise UsageError("--customers and --days must be at least 1")
    if args.live:
        from engine.worker import run_simulation

        return run_simulation(_settings(args), args)
    if args.out is None:
        raise UsageError("simulate needs --out FILE (or --live)")
    config = SimConfig(customers=args.customers, days=args.days, seed=args.seed)
    lines = write_history(config, args.out)
    print(f"wrote {lines} lines to {args.out}", file=sys.stderr)
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from engine.snapshot import fetch, format_table, to_json

    samples = fetch(args.url)
    print(to_json(samples) if args.json else format_table(samples))
    return 0


COMMANDS = {
    "run": cmd_run,
    "ingest": cmd_ingest,
    "simulate": cmd_simulate,
    "snapshot": cmd_snapshot,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except ValueError as exc:  # a STREAMKPI_* value of the wrong type
        print(f"streamkpi: usage error: {exc}", file=sys.stderr)
        return 2
    _logging(getattr(args, "log_level", None) or "warning")
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"streamkpi: usage error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        print(f"streamkpi: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
