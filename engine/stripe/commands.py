"""`streamkpi stripe convert | import | webhook` (SPEC §5): argparse wiring and the thin I/O.

`register(subparsers, add_flag)` adds the `stripe` command; engine.cli calls it
with its env-backed flag helper, so every flag also reads STREAMKPI_<FLAG>.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine.settings import Settings

AddFlag = Callable[..., None]
CONNECTION = (
    ("--bootstrap", "Kafka bootstrap server HOST:PORT"),
    ("--prefix", "topic prefix"),
    ("--partitions", "partitions of the topics created when missing"),
    ("--connect-timeout", "seconds to wait for an unreachable broker"),
    ("--log-level", "debug, info, warning, error"),
    ("--security-protocol", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
    ("--sasl-mechanism", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
    ("--sasl-username", "SASL user (the password only from STREAMKPI_SASL_PASSWORD)"),
    ("--ssl-cafile", "CA bundle that signed the broker's certificate"),
)


def register(subparsers: Any, add_flag: AddFlag, environ: Mapping[str, str] | None = None) -> None:
    """Add `stripe` with its three subcommands to the streamkpi command line.

    `environ` (default os.environ) is where `add_flag` reads STREAMKPI_* values.
    """
    stripe = subparsers.add_parser("stripe", help="the Stripe connector (SPEC §6)")
    stripe.set_defaults(handler=run)
    sub = stripe.add_subparsers(dest="stripe_command", required=True)
    env = os.environ if environ is None else environ

    def parser(name: str, text: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = sub.add_parser(name, help=text)
        made.environ = env  # type: ignore[attr-defined]  # read by engine.cli's flags
        return made

    convert = parser("convert", "Stripe events file -> SPEC §2 JSONL history")
    convert.add_argument("file", type=Path, help="JSON lines of Stripe events, or list pages")
    add_flag(convert, "--out", type=Path, metavar="FILE", help="JSONL file to write")
    add_flag(convert, "--log-level", default="warning", help="debug, info, warning, error")
    importer = parser("import", "Stripe events file -> the topics (backfill)")
    importer.add_argument("file", type=Path, help="JSON lines of Stripe events, or list pages")
    _connection(importer, add_flag)
    webhook = parser("webhook", "HTTP receiver: /stripe/webhook and /events")
    add_flag(webhook, "--port", type=int, default=8787, help="port to listen on")
    add_flag(webhook, "--bind", default="127.0.0.1", help="address to listen on")
    _connection(webhook, add_flag)


def _connection(parser: argparse.ArgumentParser, add_flag: AddFlag) -> None:
    fields = Settings.__dataclass_fields__
    for flag, text in CONNECTION:
        name = flag[2:].replace("-", "_")
        default = fields[name].default
        kind = type(default) if isinstance(default, int | float) else str
        add_flag(parser, flag, type=kind, default=default, help=text)


def run(args: argparse.Namespace) -> int:
    """Dispatch `streamkpi stripe <command>`; returns the exit code."""
    commands = {"convert": cmd_convert, "import": cmd_import, "webhook": cmd_webhook}
    return commands[args.stripe_command](args)


def _usage(message: str) -> Exception:
    from engine.cli import UsageError

    return UsageError(message)


def _settings(args: argparse.Namespace) -> Settings:
    from engine.settings import SettingError

    names = Settings.__dataclass_fields__
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    password = os.environ.get("STREAMKPI_SASL_PASSWORD")
    if password:
        values["sasl_password"] = password
    try:
        return Settings(**values)
    except SettingError as exc:
        raise _usage(str(exc)) from None


def _events(path: Path) -> list[Any]:
    from engine.stripe.convert import read_stripe_events

    if not path.is_file():
        raise _usage(f"{path}: no such file")
    return read_stripe_events(path)


def cmd_convert(args: argparse.Namespace) -> int:
    from engine.stripe.convert import convert

    if args.out is None:
        raise _usage("stripe convert needs --out FILE")
    events = _events(args.file)
    with args.out.open("wb") as out:
        tally = convert(events, out)
    print(f"wrote {args.out}: {tally.summary()}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.bootstrap:
        raise _usage("stripe import needs --bootstrap HOST:PORT (or STREAMKPI_BOOTSTRAP)")
    events = _events(args.file)
    tally = asyncio.run(_import(settings, events))
    print(f"imported {args.file}: {tally.summary()}", file=sys.stderr)
    return 0


async def _import(settings: Settings, events: list[Any]) -> Any:
    """Produce with the receiver's memory, followed: what a running receiver saves
    meanwhile is read before each chunk, so the two writers diff against one state."""
    from aiokafka import AIOKafkaProducer

    from engine import kafka
    from engine.broker import ensure_topics, wait_for_broker
    from engine.stripe.convert import produce
    from engine.stripe.follower import StateFollower
    from engine.stripe.memory import STATE_TOPIC_SUFFIX

    options = kafka.client_options(settings)
    await wait_for_broker(options, timeout=settings.connect_timeout)
    await ensure_topics(settings, options)
    state_topic = settings.topic(STATE_TOPIC_SUFFIX)
    follower = StateFollower(options, state_topic)
    memory = await follower.start()
    producer = AIOKafkaProducer(
        acks="all", linger_ms=20, max_batch_size=1 << 20, max_request_size=4 << 20, **options
    )
    await producer.start()
    try:
        return await produce(
            events, memory, producer, settings.topic, state_topic, catch_up=follower.catch_up
        )
    finally:
        await producer.stop()
        await follower.stop()


def cmd_webhook(args: argparse.Namespace) -> int:
    from engine.stripe.receiver import ReceiverConfig, serve

    settings = _settings(args)
    return serve(settings, ReceiverConfig.from_env(port=args.port, bind=args.bind))
