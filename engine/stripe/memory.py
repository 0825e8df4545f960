"""What the Stripe connector remembers between Stripe events, and where it keeps it.

The mapping (engine.stripe.mapping) is pure: it reads a `Memory` and returns the
updates to make. The memory holds, per subscription, the last applied snapshot
state (with its Stripe event's `created` and id), per customer the last applied
customer event, per charge the amount already refunded, and the ids of applied
invoice events. It lives in a compacted Kafka topic (`<prefix>stripe-state`)
keyed by memory key with JSON values, so the webhook receiver and `stripe
import` share it and it survives a restart. Updates are saved only after the
derived events were acknowledged by Kafka: a crash in between re-derives the
same event ids, which the engine counts once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import orjson

STATE_TOPIC_SUFFIX = "stripe-state"


class Memory:
    """A key -> JSON value map that only moves forward; `None` as a value deletes the key.

    Two writers (the webhook receiver and `stripe import`) may save updates of
    one key in either order to the shared topic. A value that is older than the
    one held — a subscription or customer entry with an earlier (`created`,
    event id) `at`, a smaller refunded amount — is therefore not applied, so
    replaying the topic in log order always ends at the newest state.
    """

    def __init__(self, entries: dict[str, Any] | None = None) -> None:
        self._entries: dict[str, Any] = dict(entries or {})

    def get(self, key: str) -> Any | None:
        return self._entries.get(key)

    def commit(self, updates: dict[str, Any]) -> None:
        for key, value in updates.items():
            if value is None:
                self._entries.pop(key, None)
            elif _supersedes(self._entries.get(key), value):
                self._entries[key] = value

    def entries(self) -> Iterator[tuple[str, Any]]:
        return iter(list(self._entries.items()))

    def __len__(self) -> int:
        return len(self._entries)


def _supersedes(old: Any, new: Any) -> bool:
    """Whether `new` may replace `old` (see Memory): never a step back in time."""
    if isinstance(old, dict) and isinstance(new, dict):
        before, after = old.get("at"), new.get("at")
        if isinstance(before, list) and isinstance(after, list):
            try:
                return bool(after >= before)
            except TypeError:  # a foreign value: the newer write wins
                return True
    if isinstance(old, int) and isinstance(new, int):
        return new >= old
    return True


async def ensure_state_topic(client_options: dict[str, Any], topic: str) -> None:
    """Create the compacted memory topic if it is missing (idempotent)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**client_options)
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            spec = NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([spec])
    finally:
        await admin.close()


async def load_memory(client_options: dict[str, Any], topic: str) -> Memory:
    """Read the whole compacted topic (created when missing) into a Memory.

    Reads every partition from the beginning up to the end offsets taken at the
    start; a later record of a key replaces an earlier one, a tombstone deletes it.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    await ensure_state_topic(client_options, topic)
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **client_options)
    await consumer.start()
    memory = Memory()
    try:
        # fetch metadata first: a topic created elsewhere may have several partitions
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            partitions = [TopicPartition(topic, 0)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    apply_record(memory, record.key, record.value)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return memory


def apply_record(memory: Memory, key: bytes | None, value: bytes | None) -> None:
    """Fold one record of the stripe-state topic into `memory` (a foreign one is skipped)."""
    if key is None:
        return
    try:
        decoded = None if value is None else orjson.loads(value)
    except orjson.JSONDecodeError:
        return  # not ours: a foreign record never stops the connector
    memory.commit({key.decode("utf-8", "replace"): decoded})


async def save_updates(producer: Any, topic: str, updates: dict[str, Any]) -> None:
    """Produce each update keyed by its memory key and wait until Kafka acknowledged all."""
    futures = [
        await producer.send(topic, None if value is None else orjson.dumps(value), key=key.encode())
        for key, value in updates.items()
    ]
    for future in futures:
        await future
