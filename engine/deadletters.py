"""`streamkpi rejected`: the latest dead letters of `<prefix>rejected`, with their reasons.

Each dead letter is the JSON object `events.codec.dead_letter` writes: reason,
detail, the topic the input arrived on and its raw bytes as text.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from engine import kafka
from engine.broker import wait_for_broker
from engine.settings import Settings
from events import schema

RAW_SHOWN = 120


async def latest(settings: Settings, limit: int) -> list[dict[str, Any]]:
    """The last `limit` dead letters over all partitions of the rejected topic, oldest first."""
    options = kafka.client_options(settings)
    await wait_for_broker(options, timeout=settings.connect_timeout)
    topic = settings.topic(schema.REJECTED)
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, **options)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            raise LookupError(f"no topic {topic} at {settings.bootstrap} (check --prefix)")
        letters = []
        for partition in sorted(partitions):
            letters += await _tail(consumer, TopicPartition(topic, partition), limit)
    finally:
        # aiokafka cancels its unused committed-offsets task on stop when nothing was
        # ever assigned, and lets the CancelledError out: it means nothing here.
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
    letters.sort(key=lambda letter: (letter["_timestamp"], letter["_offset"]))
    return letters[-limit:]


async def _tail(consumer: AIOKafkaConsumer, tp: TopicPartition, limit: int) -> list[dict[str, Any]]:
    consumer.assign([tp])
    end = (await consumer.end_offsets([tp]))[tp]
    start = max((await consumer.beginning_offsets([tp]))[tp], end - limit)
    consumer.seek(tp, start)
    out: list[dict[str, Any]] = []
    while start < end and (not out or out[-1]["_offset"] < end - 1):
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=limit)
        for record in batch.get(tp, []):
            out.append(_letter(record.value, record.timestamp, record.offset))
        if not batch:
            break
    return out


def _letter(value: bytes | None, timestamp: int, offset: int) -> dict[str, Any]:
    try:
        letter = orjson.loads(value or b"{}")
    except orjson.JSONDecodeError:
        letter = {"reason": "?", "raw": (value or b"").decode("utf-8", "replace")}
    if not isinstance(letter, dict):
        letter = {"reason": "?", "raw": str(letter)}
    return {**letter, "_timestamp": timestamp, "_offset": offset}


def format_letter(letter: dict[str, Any], as_json: bool = False) -> str:
    """One line: when it was rejected, the reason and detail, the input topic, the raw input."""
    shown = {k: v for k, v in letter.items() if not k.startswith("_")}
    if as_json:
        return orjson.dumps(shown).decode()
    when = datetime.fromtimestamp(letter["_timestamp"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    raw = str(shown.get("raw", ""))
    raw = raw if len(raw) <= RAW_SHOWN else raw[:RAW_SHOWN] + "…"
    detail = f" ({shown['detail']})" if shown.get("detail") else ""
    return f"{when}  {shown.get('reason', '?')}{detail}  {shown.get('topic', '?')}  {raw}"
