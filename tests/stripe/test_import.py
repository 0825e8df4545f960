"""`stripe import`'s produce loop without a broker: order of writes, batching, catch-up."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from engine.stripe import convert
from engine.stripe.mapping import translate
from engine.stripe.memory import Memory
from tests.stripe import objects as so
from tests.stripe import scenario


class Batch:
    def __init__(self, size: int) -> None:
        self.size, self.items = size, []

    def append(self, key: bytes, value: bytes | None, timestamp: None) -> object | None:
        if len(self.items) >= self.size:
            return None  # full, as aiokafka's BatchBuilder says it
        self.items.append((key, value))
        return object()


class Producer:
    """Records what would reach Kafka, in order, with each batch's partition."""

    def __init__(self) -> None:
        self.records: list[tuple[str, int, bytes, Any]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def create_batch(self) -> Batch:
        return Batch(size=3)

    async def send_batch(self, batch: Batch, topic: str, partition: int) -> asyncio.Future[None]:
        self.records += [(topic, partition, k, v) for k, v in batch.items]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def stored(events: list[dict[str, Any]]) -> list[convert.Stored]:
    return sorted((convert._store(e) for e in events), key=lambda item: (item[0], item[1]))


def run(events: list[convert.Stored], memory: Memory, **kw: Any) -> tuple[Producer, Any]:
    producer = Producer()
    tally = asyncio.run(
        convert.produce(events, memory, producer, lambda s: "p." + s, "p.stripe-state", False, **kw)
    )
    return producer, tally


def test_a_memory_update_is_sent_only_after_the_events_it_stands_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(convert, "CHUNK", 10)
    producer, tally = run(stored(scenario.events()), Memory())
    position: dict[str, int] = {}
    cause: list[tuple[int, str]] = []
    for index, (topic, _, key, value) in enumerate(producer.records):
        if topic != "p.stripe-state":
            position[orjson.loads(value)["event_id"].rsplit(":", 1)[0]] = index
        elif key.startswith(b"evt:"):
            cause.append((index, "stripe:" + key.decode()[4:]))
        elif key.startswith((b"sub:", b"cus:")):
            cause.append((index, "stripe:" + orjson.loads(value)["at"][1]))
    assert tally.derived == len(producer.records) - sum(
        1 for topic, *_ in producer.records if topic == "p.stripe-state"
    )
    assert cause and all(
        position.get(stripe_id, -1) < index for index, stripe_id in cause if stripe_id in position
    )
    assert sum(1 for _, stripe_id in cause if stripe_id in position) >= 20


def test_a_customer_stays_on_one_partition() -> None:
    producer, _ = run(stored(scenario.events()), Memory())
    where: dict[bytes, set[tuple[str, int]]] = {}
    for topic, partition, key, _value in producer.records:
        if topic != "p.stripe-state":
            where.setdefault(key, set()).add((topic, partition))
    assert where and all(
        len({p for t, p in places if t == "p.subscriptions"}) <= 1 for places in where.values()
    )


def test_what_another_writer_saved_meanwhile_is_read_before_the_next_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(convert, "CHUNK", 1)
    sub = "customer.subscription.updated"
    history = [
        so.event(sub, so.subscription(s), so.T0 + n, f"evt_{n}")
        for n, s in enumerate(["active", "paused", "active"])
    ]
    newest = so.event(sub, so.subscription("canceled"), so.T0 + 99, "evt_receiver")
    memory = Memory()

    async def receiver_saved() -> None:  # the receiver applies a newer snapshot meanwhile
        if memory.get("sub:sub_1Pgc6rB7WZ01zgkWNy0Cn5nw") is not None:
            memory.commit(translate(newest, Memory({k: v for k, v in memory.entries()})).updates)

    producer, tally = run(stored(history), memory, catch_up=receiver_saved)
    assert tally.outcomes["applied"] == 1 and tally.outcomes["stale"] == 2
    state = [orjson.loads(v) for t, _, _, v in producer.records if t == "p.stripe-state"]
    assert [entry["phase"] for entry in state] == ["running"]
