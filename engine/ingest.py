"""Produce JSONL event files to the right topics (`streamkpi ingest`, `run --input`)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from engine import kafka
from engine.settings import Settings
from events import schema
from events.codec import MAX_MESSAGE_BYTES


def route(line: bytes) -> tuple[str, bytes | None]:
    """Topic suffix and key for one JSONL line (SPEC §1).

    A batch goes to usage (keyed by its first user_id); an object to its type's
    topic keyed by customer_id, user_id or event_id; anything the engine cannot
    route (invalid JSON, unknown type) to business, where it is rejected with
    its reason rather than silently dropped here.
    """
    try:
        obj: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        return schema.BUSINESS, None
    if isinstance(obj, list):
        first = obj[0] if obj and isinstance(obj[0], dict) else {}
        # a stable key, so that a re-sent batch lands where its duplicate check is
        return schema.USAGE, _key(first, "user_id") or _key(first, "visitor_id") or _key(
            first, "event_id"
        )
    if not isinstance(obj, dict):
        return schema.BUSINESS, None
    topic = schema.topic_of(obj.get("type")) if isinstance(obj.get("type"), str) else None
    if topic is None:
        return schema.BUSINESS, _key(obj, "event_id")
    if topic == schema.USAGE:
        return topic, _key(obj, "user_id") or _key(obj, "visitor_id")
    return topic, _key(obj, "customer_id") or _key(obj, "event_id")


def fit(line: bytes, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """A line the engine would reject for its size anyway is cut to just over the
    limit, so Kafka takes it and the engine still rejects and counts it (never a
    producer error that stops the whole file)."""
    return line if len(line) <= limit else line[: limit + 1]


def _key(obj: dict[str, Any], field: str) -> bytes | None:
    value = obj.get(field)
    return value.encode() if isinstance(value, str) and value else None


def read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            line = line.strip()
            if line:
                yield line


async def produce(
    settings: Settings, lines: Iterable[bytes], total: int | None = None, progress: bool = True
) -> int:
    """Send every line; returns how many were sent. Waits for all acks."""
    from tqdm import tqdm

    producer = AIOKafkaProducer(
        linger_ms=20,
        max_batch_size=1 << 20,
        max_request_size=4 << 20,
        **kafka.client_options(settings),
    )
    await producer.start()
    sent = 0
    try:
        with tqdm(total=total, unit="msg", disable=not progress, file=sys.stderr) as bar:
            for line in lines:
                suffix, key = route(line)
                await producer.send(settings.topic(suffix), fit(line), key=key)
                sent += 1
                if sent % 1000 == 0:
                    bar.update(1000)
            await producer.flush()
            bar.update(sent % 1000)
    finally:
        await producer.stop()
    return sent


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
