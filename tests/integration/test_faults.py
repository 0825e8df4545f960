"""Fault injection through the real embedded broker (issue 7): every run ends equal to the reference.

kill -9 of a worker mid-stream, a whole input file produced twice, a second
worker joining mid-stream, and the broker frozen (SIGSTOP) for 30 s. Each test
settles the workers and compares every exported metric with the independent
batch recomputation in tests/reference.py.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from engine.broker import EmbeddedBroker
from engine.ingest import produce
from engine.settings import Settings
from tests import reference
from tests.integration.conftest import COUNTERS, Worker
from tests.integration.faults import kill9, processed, settle_all, stopped, wait_processed
from tests.integration.test_pipeline import history

# A rejoin after a kill waits for the dead member's session (6 s) plus a rebalance.
REJOIN = 90.0
PATIENCE = 120.0


@pytest.mark.integration
def test_kill_9_five_times_mid_stream_then_settle(workers, tmp_path: Path) -> None:
    path, lines = history(tmp_path, customers=400, days=150)  # ~130k events, several seconds
    expected = reference.compute(lines, prefix=workers.prefix)
    total = processed(expected)
    rng = random.Random(7_2026)
    # one kill point in each fifth of 10 %..90 % of the work, at least 8 % apart
    points = [total * (0.10 + 0.16 * i + 0.16 * rng.uniform(0.25, 0.75)) for i in range(5)]
    killed_at = []
    worker = workers("--input", str(path))
    for i, point in enumerate(points):
        if i:
            worker = workers()  # same deployment (prefix, group), no input
        killed_at.append(wait_processed(worker, point, patience=REJOIN))
        kill9(worker)
    assert all(seen < total for seen in killed_at), (killed_at, total)
    final = workers()
    actual = settle_all(final, expected, patience=PATIENCE)
    assert reference.diff(expected, actual) == []


@pytest.mark.integration
def test_whole_file_produced_twice_changes_only_the_counters(
    workers, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    path, lines = history(tmp_path, customers=40, days=45)
    expected = reference.compute(lines, prefix=workers.prefix)
    worker = workers("--input", str(path))
    first = settle_all(worker, expected, patience=PATIENCE)
    assert reference.diff(expected, first) == []

    settings = Settings(bootstrap=broker.bootstrap, prefix=workers.prefix)
    assert asyncio.run(produce(settings, lines, progress=False)) == len(lines)
    doubled = reference.compute(lines + lines, prefix=workers.prefix)
    second = settle_all(worker, doubled, patience=PATIENCE)
    assert reference.diff(doubled, second) == []

    changed = {k for k in expected.keys() | doubled.keys() if expected.get(k) != doubled.get(k)}
    assert changed and all(k.startswith(COUNTERS) for k in changed), sorted(changed)
    unchanged = {k: v for k, v in first.items() if k not in changed}
    assert reference.diff(unchanged, {k: v for k, v in second.items() if k not in changed}) == []


@pytest.mark.integration
def test_second_worker_joins_mid_stream(workers, tmp_path: Path) -> None:
    path, lines = history(tmp_path, customers=300, days=120)
    expected = reference.compute(lines, prefix=workers.prefix)
    total = processed(expected)
    first = workers("--input", str(path))
    at_join = wait_processed(first, 0.3 * total, patience=REJOIN)
    second = workers()
    assert at_join < total, "the first worker finished before the second joined"
    for worker in (first, second):
        assert reference.diff(expected, settle_all(worker, expected, patience=PATIENCE)) == []


@pytest.mark.integration
def test_broker_frozen_30s_while_processing(tmp_path: Path) -> None:
    path, lines = history(tmp_path, customers=300, days=120)
    prefix, group = f"pause{os.getpid()}.", f"pause{os.getpid()}"
    expected = reference.compute(lines, prefix=prefix)
    total = processed(expected)
    with EmbeddedBroker() as broker:  # its own broker: the session one is shared
        assert broker.process is not None
        worker = Worker(
            broker.bootstrap, prefix, group, "--input", str(path), log=tmp_path / "w.log"
        )
        try:
            at_pause = wait_processed(worker, 0.25 * total, patience=REJOIN)
            with stopped(broker.process):
                time.sleep(30)  # the fault itself, not an assertion
            assert at_pause < total, "the worker finished before the broker was paused"
            actual = settle_all(worker, expected, patience=PATIENCE)  # fails if the worker exited
            assert reference.diff(expected, actual) == []
        finally:
            worker.stop()
