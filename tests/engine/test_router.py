"""The router without a broker: replays vs duplicates, facts, dead letters."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson

from engine.outbox import Outbox, unpack
from engine.router import Router
from engine.usage import UsageOwner
from events import types as t
from events.codec import decode
from tables.activity import PartitionActivity, UsageView
from tables.money import MRR_UNITS_PER_MINOR
from tables.store import Store

PAYMENT = orjson.dumps(
    {
        "event_id": "p1",
        "type": "payment.succeeded",
        "ts": "2026-03-01T00:00:00Z",
        "customer_id": "c1",
        "amount": 100,
        "currency": "USD",
    }
)
USAGE = orjson.dumps(
    {
        "event_id": "u1",
        "type": "usage",
        "ts": "2026-03-01T00:00:00Z",
        "user_id": "u",
        "customer_id": "c1",
        "feature": "api",
    }
)


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class NoWait:
    async def sync(self, since: float | None = None) -> None:
        return None


class Routed:
    """A router whose sends are recorded; `handle` flushes the outbox after each message."""

    def __init__(self) -> None:
        self.store = Store()
        self.sent: list[tuple[str, bytes | None]] = []
        self.outbox = Outbox("saas.facts", self.send)
        owner = UsageOwner(UsageView(), self.store, "saas.usage-state", "saas.facts")
        self.router = Router("saas.", self.store, NoWait(), self.send, self.outbox, owner)

    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self.sent.append((topic, value))

    def handle(self, suffix: str, message: Msg) -> None:
        async def run() -> None:
            await self.router.handle(suffix, message)
            await self.outbox.flush()

        asyncio.run(run())

    def facts(self) -> list[dict[str, object]]:
        return [f for t, v in self.sent if t == "saas.facts" for f in unpack(v or b"")]


def test_redelivered_input_is_a_replay_not_a_duplicate() -> None:
    r = Routed()
    for _ in range(2):  # the same offset twice: at-least-once re-delivery
        r.handle("payments", Msg("saas.payments", 0, 0, b"c1", PAYMENT))
    assert r.store.processed == {"payments": 1} and r.store.duplicates == {}
    assert [t for t, _ in r.sent] == ["saas.facts"]
    assert [f["event_id"] for f in r.facts()] == ["p1"]


def test_same_event_at_another_offset_is_a_duplicate() -> None:
    r = Routed()
    r.handle("payments", Msg("saas.payments", 0, 0, b"c1", PAYMENT))
    r.handle("payments", Msg("saas.payments", 0, 1, b"c1", PAYMENT))
    assert r.store.duplicates == {"payments": 1}
    assert r.facts()[-1]["_dup"] == "payments"


def test_bad_input_goes_to_rejected_with_reason() -> None:
    r = Routed()
    r.handle("payments", Msg("saas.payments", 0, 5, None, b"{nope"))
    topics = [t for t, _ in r.sent]
    assert topics == ["saas.rejected", "saas.facts"]
    assert orjson.loads(r.sent[0][1] or b"{}")["reason"] == "invalid_json"
    assert r.facts() == [{"_reject": "invalid_json", "_key": "saas.payments:0:5:0"}]
    assert r.store.rejected == {"invalid_json": 1}


def test_usage_dedupe_survives_a_restore() -> None:
    state, view = PartitionActivity(0), UsageView()
    [usage] = decode(USAGE, "usage")
    state.apply(usage, 0)
    for key, value in state.drain()[0]:
        view.ingest(key, value)
    restored = PartitionActivity.restore(0, view.partition_parts(0))
    restored.apply(usage, 1)
    assert (restored.processed, restored.duplicates) == (1, 1)


def test_a_batch_is_handled_message_by_message_like_single_messages() -> None:
    one, batch = Routed(), Routed()
    messages = [Msg("saas.payments", 0, 0, b"c1", PAYMENT), Msg("saas.payments", 0, 1, None, b"{")]
    for message in messages:
        one.handle("payments", message)

    async def run() -> bool:
        done = await batch.router.handle_batch("payments", messages)
        await batch.outbox.flush()
        return done

    assert asyncio.run(run())
    dead = [(t, v) for t, v in one.sent if t == "saas.rejected"]
    assert dead and [(t, v) for t, v in batch.sent if t == "saas.rejected"] == dead
    assert batch.facts() == one.facts()  # the fact, then the rejection fact, in one pack
    assert batch.store.processed == one.store.processed


def test_a_batch_cut_by_a_revocation_stops_and_asks_not_to_be_acknowledged(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import engine.router

    monkeypatch.setattr(engine.router, "YIELD_EVERY", 2)
    r = Routed()
    usage = [Msg("saas.usage", 0, n, b"u", USAGE.replace(b'"u1"', b'"u%d"' % n)) for n in range(6)]

    async def run() -> bool:
        async def revoke() -> None:
            r.router.forget_assignment()

        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(revoke()))
        return await r.router.handle_batch("usage", usage)

    assert asyncio.run(run()) is False
    state = r.router.usage.partitions[0]  # type: ignore[attr-defined]
    assert state.offset < 5  # the rest is the next owner's


class LaggingReader:
    """A reader that keeps `since` like engine/reader.py's GlobalReader and, when it
    really syncs, reads the fx.rate waiting in the business topic into the store."""

    def __init__(self, store: Store, waiting: list[t.FxRate]) -> None:
        self.store = store
        self.waiting = waiting
        self.last_began = time.monotonic()  # it synced a moment ago
        self.synced = 0

    async def sync(self, since: float | None = None) -> None:
        if since is not None and self.last_began >= since:
            return
        self.last_began = time.monotonic()
        self.synced += 1
        for rate in self.waiting:
            self.store.apply(rate, "business")
        self.waiting.clear()


def _event(obj: dict[str, object], topic: str) -> t.Event:
    [event] = decode(orjson.dumps(obj), topic)
    assert isinstance(event, t.Event), event
    return event


def test_a_rate_produced_just_before_a_batch_converts_its_foreign_money() -> None:
    """The rate of the 28th reached the business topic after the reader's last sync
    but before the EUR subscriptions' batch was fetched: the owner must read it before
    converting, once per batch (the clean-clone CI once saw the older rate pinned
    under a 0.2 s sync cache)."""
    store = Store()
    rate = {"type": "fx.rate", "currency": "EUR"}
    r26 = {**rate, "event_id": "r26", "ts": "2026-06-26T00:00:00Z", "rate": 1.0}
    r28 = {**rate, "event_id": "r28", "ts": "2026-06-28T00:00:00Z", "rate": 1.5}
    reader = LaggingReader(store, [_event(r26, "business")])
    sent: list[bytes | None] = []

    async def send(topic: str, key: bytes | None, value: bytes | None) -> None:
        sent.append(value)

    outbox = Outbox("saas.facts", send)
    owner = UsageOwner(UsageView(), store, "saas.usage-state", "saas.facts")
    router = Router("saas.", store, reader, send, outbox, owner)
    started = {"type": "subscription.started", "ts": "2026-06-28T13:15:51Z",
               "customer_id": "c1", "plan": "business", "amount": 10000,
               "currency": "EUR", "interval": "month"}  # fmt: skip

    def message(offset: int) -> Msg:
        body = {**started, "event_id": f"e{offset}", "subscription_id": f"s{offset}"}
        return Msg("saas.subscriptions", 0, offset, b"c1", orjson.dumps(body))

    asyncio.run(router.handle_batch("subscriptions", [message(0)]))  # assigned: full sync
    assert store.mrr.total == 10000 * MRR_UNITS_PER_MINOR  # at 1.0
    reader.waiting.append(_event(r28, "business"))  # produced after that sync
    reader.synced = 0
    asyncio.run(router.handle_batch("subscriptions", [message(i) for i in range(1, 4)]))
    assert reader.synced == 1  # once for the batch, not per event
    assert store.mrr.total == (10000 + 3 * 15000) * MRR_UNITS_PER_MINOR  # the batch at 1.5
