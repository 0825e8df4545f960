"""The agent tier: two worker runtimes in one process, no broker.

Worker A owns every input partition and routes the messages (decode, apply,
facts out); worker B only folds A's facts as its global reader would. Both must
export the same global numbers — the N-worker guarantee of docs/architecture.md
— and a fact that cannot be applied must show on /metrics, not only in a log.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson

from engine.app import Runtime, create_app
from engine.settings import Settings
from events.schema import topic_of
from tests.v2_history import V2Config, history


class Captured:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self.sent.append((topic, key, value))


async def _no_wait(since: float | None = None) -> None:
    return None


def runtime(loop: asyncio.AbstractEventLoop, captured: Captured) -> Runtime:
    settings = Settings(bootstrap="127.0.0.1:1", metrics_port=0, report_interval=0.0)
    _app, rt = create_app(settings, loop)
    rt.send = captured.send  # type: ignore[method-assign]
    rt.router.send = captured.send
    rt.outbox._send = captured.send  # noqa: SLF001 - the producer of this test
    rt.reader.sync = _no_wait  # type: ignore[method-assign]
    return rt


def record(topic: str, value: bytes | None, offset: int = 0, partition: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        topic=topic, partition=partition, offset=offset, key=None, value=value, headers=()
    )


def suffix_of(line: bytes) -> str | None:
    """The input topic suffix of a history line; None for usage, which has its own
    snapshot path (tests/tables/test_activity)."""
    try:
        obj = orjson.loads(line)
        first = obj[0] if isinstance(obj, list) and obj else obj
        suffix = topic_of(first.get("type", "")) or "business"
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        suffix = "business"
    return None if suffix == "usage" else suffix


def _route(loop: asyncio.AbstractEventLoop, rt: Runtime, lines: list[bytes]) -> None:
    async def go() -> None:
        for offset, line in enumerate(lines):
            suffix = suffix_of(line)
            if suffix is None:
                continue
            if b'"fx.rate"' in line:
                rt._on_business(record("saas.business", line, offset))  # noqa: SLF001
            await rt.router.handle(suffix, record(f"saas.{suffix}", line, offset))
        await rt.outbox.flush()

    loop.run_until_complete(go())


def _fold_facts(worker: Runtime, captured: Captured) -> None:
    for topic, _key, value in captured.sent:
        if topic == "saas.facts" and value:
            worker._on_fact(record(topic, value))  # noqa: SLF001
        if topic == "saas.business":
            worker._on_business(record(topic, value))  # noqa: SLF001


def kpis(rt: Runtime) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(n, lb): v for n, lb, v in rt.samples() if not n.startswith("streamkpi_")}


def test_a_fact_reader_exports_what_the_owner_exports(loop: asyncio.AbstractEventLoop) -> None:
    lines = history(V2Config(customers=25, days=50, seed=5))
    owner_out, reader_out = Captured(), Captured()
    owner, reader = runtime(loop, owner_out), runtime(loop, reader_out)
    for offset, line in enumerate(lines):  # every worker reads fx.rate from the business topic
        if b'"fx.rate"' in line:
            reader._on_business(record("saas.business", line, offset))  # noqa: SLF001
    _route(loop, owner, lines)
    _fold_facts(reader, owner_out)
    mine, theirs = kpis(owner), kpis(reader)
    assert mine[("saas_mrr", ())] > 0
    assert ("saas_committed_mrr", ()) in mine
    assert theirs == mine
    # the owner's own facts read back change nothing (read-your-writes)
    _fold_facts(owner, owner_out)
    assert kpis(owner) == mine


def test_a_fact_that_fails_to_apply_is_counted_on_metrics(
    loop: asyncio.AbstractEventLoop,
) -> None:
    rt = runtime(loop, Captured())
    rt.reader._handle(rt._on_fact, record("saas.facts", b'{"type": "nope"}'))  # noqa: SLF001
    rt.reader._handle(rt._on_fact, record("saas.facts", b"[]"))  # noqa: SLF001
    counts = {dict(lb)["outcome"]: v for n, lb, v in rt.samples() if n.startswith("streamkpi_")}
    assert counts == {"applied": 1.0, "error": 1.0}


def test_fx_rates_reach_every_worker_from_the_business_topic(
    loop: asyncio.AbstractEventLoop,
) -> None:
    rt = runtime(loop, Captured())
    rate = b'{"event_id":"fx1","type":"fx.rate","ts":"2026-03-01T00:00:00Z","currency":"EUR","rate":1.1}'
    rt._on_business(record("saas.business", rate))  # noqa: SLF001
    rt._on_business(record("saas.business", rate, offset=1))  # a second input, same id  # noqa: SLF001
    assert rt.store.fx.rate_at("EUR", 1.8e9) is not None
    assert rt.store.duplicates == {"business": 1}
