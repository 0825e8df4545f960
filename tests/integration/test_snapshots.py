"""Store snapshots through the real broker (engine/snapshots.py, issue 12).

A worker snapshots its store every 0.5 s while it processes a history with
bad lines and duplicates; it is killed with SIGKILL three times at random
points (so some kills land while a snapshot is being written), each
replacement restores the newest snapshot and replays only the facts after
it, and the end equals the reference. Then the newest head is made to point
at a corrupt chunk: the next start uses the previous snapshot, and a start
that finds only garbage replays everything -- exact in every case.
"""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from engine import snapshots
from engine.broker import EmbeddedBroker
from tests import reference
from tests.integration.faults import kill9, processed, settle_all, spec_diff, wait_processed
from tests.integration.test_pipeline import history

FAST = ("--snapshot-interval", "0.5")
RESTORED = "restored the store snapshot"
PATIENCE = 180.0


def log_of(worker) -> str:  # noqa: ANN001 - the conftest Worker
    return worker.log.read_text(errors="replace")


async def _send(bootstrap: str, topic: str, partition: int, key: bytes, value: bytes) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 << 20)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value, key=key, partition=partition)
        return int(meta.offset)
    finally:
        await producer.stop()


def heads(bootstrap: str, topic: str) -> list[snapshots.Head]:
    loaded = asyncio.run(snapshots.load({"bootstrap_servers": bootstrap}, topic))
    return [head for head, store in loaded if store is not None]


@pytest.mark.integration
def test_kill_9_with_snapshots_restores_and_stays_exact(
    workers, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    path, lines = history(tmp_path, customers=300, days=150)
    expected = reference.compute(lines, prefix=workers.prefix)
    total = processed(expected)
    rng = random.Random(6_2026)
    worker = workers("--input", str(path), *FAST)
    restarted = []
    for i in range(3):
        wait_processed(worker, total * (0.2 + 0.25 * i + 0.1 * rng.random()), patience=PATIENCE)
        kill9(worker)
        worker = workers(*FAST)
        restarted.append(worker)
    actual = settle_all(worker, expected, patience=PATIENCE)
    assert spec_diff(expected, actual) == []
    restores = [w for w in restarted if RESTORED in log_of(w)]
    assert restores, "no restart restored a snapshot:\n" + "\n".join(w.tail() for w in restarted)

    # the newest snapshot made unusable: its head points at a corrupt chunk
    topic = workers.prefix + snapshots.SUFFIX
    newest = heads(broker.bootstrap, topic)[0]
    kill9(worker)
    bad_chunk = asyncio.run(
        _send(broker.bootstrap, topic, snapshots.CHUNKS, b"X:0", b"not a pickle")
    )
    broken = snapshots.Head(
        **{**newest.__dict__, "chunks": [bad_chunk], "created": newest.created + 1}
    )
    asyncio.run(_send(broker.bootstrap, topic, snapshots.HEADS, b"head:X", broken.encode()))
    fallback = workers(*FAST)
    actual = settle_all(fallback, expected, patience=PATIENCE)
    assert spec_diff(expected, actual) == []
    text = log_of(fallback)
    assert re.search(r"store snapshot of \S+ not used: chunks missing, corrupt", text), text[-3000:]
    assert RESTORED in text  # the previous snapshot


@pytest.mark.integration
def test_only_garbage_snapshots_mean_a_full_replay(
    workers, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    path, lines = history(tmp_path, customers=40, days=45)
    expected = reference.compute(lines, prefix=workers.prefix)
    first = workers("--input", str(path), "--snapshot-interval", "0")
    assert spec_diff(expected, settle_all(first, expected, patience=PATIENCE)) == []
    kill9(first)
    topic = workers.prefix + snapshots.SUFFIX
    for value in (b"{", orjson.dumps({"format": 99}), b"\x00" * 10):
        asyncio.run(_send(broker.bootstrap, topic, snapshots.HEADS, b"head:A", value))
    again = workers(*FAST)
    assert spec_diff(expected, settle_all(again, expected, patience=PATIENCE)) == []
    assert RESTORED not in log_of(again)
