"""The router without a broker: replays vs duplicates, facts, dead letters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson

from engine.router import Router
from engine.usage import UsageOwner
from events.codec import decode
from tables.activity import PartitionActivity, UsageView
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
    async def sync(self, max_age: float = 0.0) -> None:
        return None


def router() -> tuple[Router, Store, list[tuple[str, bytes | None]]]:
    store, sent = Store(), []

    async def send(topic: str, key: bytes | None, value: bytes | None) -> None:
        sent.append((topic, value))

    owner = UsageOwner(UsageView(), store, "saas.usage-state", "saas.facts")
    return Router("saas.", store, NoWait(), send, owner), store, sent


def test_redelivered_input_is_a_replay_not_a_duplicate() -> None:
    r, store, sent = router()
    for _ in range(2):  # the same offset twice: at-least-once re-delivery
        asyncio.run(r.handle("payments", Msg("saas.payments", 0, 0, b"c1", PAYMENT)))
    assert store.processed == {"payments": 1} and store.duplicates == {}
    assert [t for t, _ in sent] == ["saas.facts"]


def test_same_event_at_another_offset_is_a_duplicate() -> None:
    r, store, sent = router()
    asyncio.run(r.handle("payments", Msg("saas.payments", 0, 0, b"c1", PAYMENT)))
    asyncio.run(r.handle("payments", Msg("saas.payments", 0, 1, b"c1", PAYMENT)))
    assert store.duplicates == {"payments": 1}
    assert orjson.loads(sent[-1][1] or b"{}")["_dup"] == "payments"


def test_bad_input_goes_to_rejected_with_reason() -> None:
    r, store, sent = router()
    asyncio.run(r.handle("payments", Msg("saas.payments", 0, 5, None, b"{nope")))
    topics = [t for t, _ in sent]
    assert topics == ["saas.rejected", "saas.facts"]
    assert orjson.loads(sent[0][1] or b"{}")["reason"] == "invalid_json"
    assert store.rejected == {"invalid_json": 1}


def test_usage_dedupe_survives_a_restore() -> None:
    state, view = PartitionActivity(0), UsageView()
    [usage] = decode(USAGE, "usage")
    state.apply(usage, 0)
    for key, value in state.drain()[0]:
        view.ingest(key, value)
    restored = PartitionActivity.restore(0, view.partition_parts(0))
    restored.apply(usage, 1)
    assert (restored.processed, restored.duplicates) == (1, 1)
