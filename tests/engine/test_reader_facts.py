"""Fact packs read back by the worker that made them (engine/app.py `Runtime._on_fact`).

The outbox sends each pack through `Runtime._send_own_facts`, which tags it with
the runtime's origin header. A pack carrying this runtime's origin for its
current store was applied here before it was sent, so the reader skips it
without decoding it; any other pack (another worker, an earlier process of
this worker, a store swapped in by a snapshot restore) is folded in full.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from engine import snapshots
from engine.app import ORIGIN_HEADER, Runtime, create_app
from engine.outbox import unpack
from engine.settings import Settings
from events import facts as wire
from tables.store import Store
from tests.engine.test_runtime import suffix_of
from tests.v2_history import V2Config, history

Sent = tuple[str, bytes | None, bytes | None, Any]


class Producer:
    """Faust's producer as the runtime calls it, recording what it would send."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    async def send(self, topic: str, key: Any, value: Any, partition: Any, ts: Any, headers: Any):  # type: ignore[no-untyped-def]
        self.sent.append((topic, key, value, tuple(headers or ())))


async def _no_wait(since: float | None = None) -> None:
    return None


def runtime(loop: asyncio.AbstractEventLoop) -> tuple[Runtime, Producer]:
    settings = Settings(bootstrap="127.0.0.1:1", metrics_port=0, report_interval=0.0)
    app, rt = create_app(settings, loop)
    producer = Producer()
    app.producer = producer  # type: ignore[assignment]
    rt.reader.sync = _no_wait  # type: ignore[method-assign]
    return rt, producer


def record(value: bytes | None, headers: tuple[Any, ...] = (), offset: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        topic="saas.facts", partition=0, offset=offset, key=None, value=value, headers=headers
    )


def route(loop: asyncio.AbstractEventLoop, rt: Runtime, lines: list[bytes]) -> None:
    """The subscription, payment and business lines of a history, as an owner routes them
    (fx.rate reaches every worker through its reader, as in production)."""

    async def go() -> None:
        for offset, line in enumerate(lines):
            if b'"fx.rate"' in line:
                rt._on_business(
                    SimpleNamespace(topic="saas.business", partition=0, offset=offset, value=line)
                )  # noqa: SLF001
            suffix = suffix_of(line)
            if suffix is not None:
                msg = SimpleNamespace(
                    topic=f"saas.{suffix}",
                    partition=0,
                    offset=offset,
                    key=None,
                    value=line,
                )
                await rt.router.handle(suffix, msg)
        await rt.outbox.flush()

    loop.run_until_complete(go())


def fact_packs(producer: Producer) -> list[Sent]:
    return [sent for sent in producer.sent if sent[0] == "saas.facts"]


def kpis(rt: Runtime) -> dict[Any, float]:
    return {(n, lb): v for n, lb, v in rt.samples() if not n.startswith("streamkpi_")}


LINES = history(V2Config(customers=25, days=50, seed=5))


def test_every_fact_in_an_own_pack_was_applied_here_before_the_pack_was_sent(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """What makes skipping an own pack safe: the router applies (or counts) an input
    before it adds its fact, so a sent pack holds nothing this store lacks."""
    rt, producer = runtime(loop)
    checked = 0

    async def checking_send(topic, key, value, partition, ts, headers):  # type: ignore[no-untyped-def]
        nonlocal checked
        if topic == "saas.facts":
            assert headers == [rt.origin()]
            for body in unpack(value):
                fact = wire.decode(body)
                if isinstance(fact, wire.Applied):
                    assert rt.store.knows_input(fact.source), fact
                else:  # a rejection or duplicate: counted under its input key already
                    assert isinstance(fact, wire.Rejected | wire.Duplicate), fact
                    assert rt.store.knows_input(fact.key), fact
                checked += 1
        await Producer.send(producer, topic, key, value, partition, ts, headers)

    producer.send = checking_send  # type: ignore[method-assign]
    route(loop, rt, LINES)
    kinds = {
        type(wire.decode(b)) for _t, _k, v, _h in fact_packs(producer) for b in unpack(v or b"")
    }
    assert checked > 100 and {wire.Applied, wire.Rejected, wire.Duplicate} <= kinds


def fold(rt: Runtime, packs: list[Sent]) -> None:
    for offset, (_topic, _key, value, headers) in enumerate(packs):
        rt.reader._handle(rt._on_fact, record(value, headers, offset))  # noqa: SLF001


def feed_rates(rt: Runtime) -> None:
    """Every worker reads fx.rate from the business topic."""
    for offset, line in enumerate(LINES):
        if b'"fx.rate"' in line:
            rt._on_business(
                SimpleNamespace(topic="saas.business", partition=0, offset=offset, value=line)
            )  # noqa: SLF001


def test_own_packs_read_back_are_skipped_unread(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, producer = runtime(loop)
    route(loop, rt, LINES)
    before = kpis(rt)
    packs = fact_packs(producer)
    assert packs and all(headers == (rt.origin(),) for *_s, headers in packs)

    def no_decode(body: Any) -> Any:
        raise AssertionError("an own pack was decoded")

    monkeypatch.setattr(wire, "decode", no_decode)
    monkeypatch.setattr("engine.app.unpack", no_decode)
    fold(rt, packs)
    fold(rt, [("saas.facts", None, b"not json", (rt.origin(),))])  # never even parsed
    assert kpis(rt) == before
    assert (rt.reader.applied, rt.reader.errors) == (len(packs) + 1, 0)


def test_a_new_process_folds_every_pack_of_the_previous_one(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """A restarted worker has a new origin: its predecessor's packs are folded in full."""
    owner, producer = runtime(loop)
    route(loop, owner, LINES)
    successor, _ = runtime(loop)
    assert successor.origin() != owner.origin()
    feed_rates(successor)
    fold(successor, fact_packs(producer))
    assert successor.reader.errors == 0
    assert kpis(successor) == kpis(owner)


def test_after_a_store_swap_the_old_origin_is_folded_not_skipped(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """A store adopted from a snapshot (engine/snapshots.py) lacks what the old store
    applied: the runtime's origin changes with its store."""
    rt, producer = runtime(loop)
    route(loop, rt, LINES)
    expected, old_origin = kpis(rt), rt.origin()
    snapshots.adopt(
        rt, Store(rt.settings.currency, rt.settings.max_plans, rt.settings.max_segments)
    )
    assert rt.origin() != old_origin
    feed_rates(rt)
    fold(rt, fact_packs(producer))
    assert kpis(rt) == expected


def test_a_pack_with_an_unknown_or_no_origin_is_folded(loop: asyncio.AbstractEventLoop) -> None:
    owner, producer = runtime(loop)
    route(loop, owner, LINES)
    packs = fact_packs(producer)
    for headers in [(), ((ORIGIN_HEADER, b"someone-else"),), (("other", b"x"),)]:
        reader, _ = runtime(loop)
        reader.origin()  # it has an origin of its own
        feed_rates(reader)
        fold(reader, [(t, k, v, headers) for t, k, v, _h in packs])
        assert kpis(reader) == kpis(owner), headers
