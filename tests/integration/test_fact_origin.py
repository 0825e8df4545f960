"""Fact packs carry their maker's origin through the real broker (engine/app.py).

A worker skips reading back the packs it made (they were applied before they
were sent); that rests on the origin header surviving Faust's producer, Tansu
and aiokafka's consumer, and on a restarted worker getting a new origin, so
that it folds everything its predecessor sent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from engine.app import ORIGIN_HEADER
from tests import reference
from tests.integration.test_pipeline import settle_exact, write_v2_history


async def _read_facts(
    bootstrap: str, topic: str
) -> list[tuple[bytes, tuple[tuple[str, bytes], ...]]]:
    """(key, headers) of every message in `topic`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[tuple[bytes, tuple[tuple[str, bytes], ...]]] = []
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=3000)
            if not batches:
                return found
            found.extend((r.key or b"", tuple(r.headers)) for rs in batches.values() for r in rs)
    finally:
        await consumer.stop()


def _origins(messages: list[tuple[bytes, tuple[tuple[str, bytes], ...]]]) -> set[bytes]:
    return {value for _key, headers in messages for name, value in headers if name == ORIGIN_HEADER}


@pytest.mark.integration
def test_packs_carry_the_origin_and_a_restarted_worker_folds_them_all(
    workers, broker, tmp_path: Path
) -> None:
    path, lines = write_v2_history(tmp_path, seed=4, customers=30, days=40)
    expected = reference.compute(lines, prefix=workers.prefix)
    first = workers("--input", str(path))
    assert settle_exact(first, expected) == []
    facts = asyncio.run(_read_facts(broker.bootstrap, workers.prefix + "facts"))
    packs = [(key, headers) for key, headers in facts if b":" in key]  # the outbox's keys
    assert packs, facts[:3]
    assert all(len([n for n, _v in headers if n == ORIGIN_HEADER]) == 1 for _k, headers in packs)
    [origin] = _origins(packs)  # one process, one store: one origin
    assert len(origin) == 32
    first.stop()

    second = workers()  # a new process: folds every pack of the first, including its own kind
    assert settle_exact(second, expected) == []
    after = asyncio.run(_read_facts(broker.bootstrap, workers.prefix + "facts"))
    assert origin not in _origins(after[len(facts) :])
