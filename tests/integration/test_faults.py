"""Fault injection through the real embedded broker: every run ends equal to the reference.

Two workers of one group share the input in every scenario (issues 7 and 12):
kill -9 of either worker at five random points (each time a replacement
joins), a whole input file produced twice, a worker joining and another
leaving mid-stream, and the broker frozen (SIGSTOP) for 30 s. Each test
settles the live workers and compares every exported metric with the
independent batch recomputation in tests/reference.py.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from engine.broker import EmbeddedBroker, ensure_topics
from engine.ingest import produce
from engine.kafka import client_options
from engine.settings import Settings
from tests import reference
from tests.integration.conftest import COUNTERS, Worker
from tests.integration.faults import (
    kill9,
    processed,
    settle_all,
    spec_diff,
    stopped,
    wait_processed,
)
from tests.integration.test_pipeline import history

# A rejoin after a kill waits for the dead member's session (6 s) plus a rebalance.
REJOIN = 120.0
PATIENCE = 180.0


def produce_file(bootstrap: str, prefix: str, lines: list[bytes]) -> None:
    """The whole input in Kafka before any worker starts (a kill cannot cut it short)."""
    settings = Settings(bootstrap=bootstrap, prefix=prefix)
    asyncio.run(ensure_topics(settings, client_options(settings)))
    assert asyncio.run(produce(settings, lines, progress=False)) == len(lines)


def assert_exact(live: list[Worker], expected: dict[str, float]) -> None:
    for worker in live:
        problems = spec_diff(expected, settle_all(worker, expected, patience=PATIENCE))
        assert problems == [], "\n".join(problems)


@pytest.mark.integration
def test_kill_9_either_of_two_workers_five_times(
    workers, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """800 customers x 200 days (~117k messages, ~350k events, bad lines, duplicates)."""
    path, lines = history(tmp_path, customers=800, days=200)
    expected = reference.compute(lines, prefix=workers.prefix)
    total = processed(expected)
    rng = random.Random(12_2026)
    # The input in seven parts: part i + 1 is produced just before the i-th kill, whose
    # point lies inside that part, and the last part only after the last kill -- so every
    # kill hits a worker with input still to process, however fast the workers are.
    cuts = [len(lines) * k // 7 for k in range(8)]
    produce_file(broker.bootstrap, workers.prefix, lines[: cuts[1]])
    live = [workers(), workers()]
    killed: list[tuple[int, float]] = []
    for i in range(1, 6):
        produce_file(broker.bootstrap, workers.prefix, lines[cuts[i] : cuts[i + 1]])
        point = total * (cuts[i] + (cuts[i + 1] - cuts[i]) * rng.uniform(0.2, 0.6)) / len(lines)
        victim = rng.randrange(2)
        killed.append((victim, wait_processed(live[1 - victim], point, patience=REJOIN)))
        kill9(live[victim])
        live[victim] = workers()  # a replacement joins the group at once
    produce_file(broker.bootstrap, workers.prefix, lines[cuts[6] :])
    assert all(seen < total for _, seen in killed), (killed, total)
    assert len({victim for victim, _ in killed}) == 2, "both workers should have been killed"
    assert_exact(live, expected)


@pytest.mark.integration
def test_whole_file_produced_twice_changes_only_the_counters(
    workers, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    path, lines = history(tmp_path, customers=40, days=45)
    expected = reference.compute(lines, prefix=workers.prefix)
    live = [workers("--input", str(path)), workers()]
    first = settle_all(live[0], expected, patience=PATIENCE)
    assert spec_diff(expected, first) == []

    settings = Settings(bootstrap=broker.bootstrap, prefix=workers.prefix)
    assert asyncio.run(produce(settings, lines, progress=False)) == len(lines)
    doubled = reference.compute(lines + lines, prefix=workers.prefix)
    second = settle_all(live[0], doubled, patience=PATIENCE)
    assert spec_diff(doubled, second) == []
    assert spec_diff(doubled, settle_all(live[1], doubled, patience=PATIENCE)) == []

    changed = {k for k in expected.keys() | doubled.keys() if expected.get(k) != doubled.get(k)}
    assert changed and all(k.startswith(COUNTERS) for k in changed), sorted(changed)
    # the same ids again leave every distinct set and sketch as it was: exactly equal
    unchanged = {k: v for k, v in first.items() if k not in changed}
    assert reference.diff(unchanged, {k: v for k, v in second.items() if k not in changed}) == []


@pytest.mark.integration
def test_a_worker_joins_and_another_leaves_mid_stream(
    workers, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    path, lines = history(tmp_path, customers=400, days=150)
    expected = reference.compute(lines, prefix=workers.prefix)
    total = processed(expected)
    # the input in three parts, each produced once the previous one is (nearly) done:
    # the join and the leave happen mid-stream however fast the workers are
    cuts = [len(lines) // 3, 2 * len(lines) // 3, len(lines)]
    done = [processed(reference.compute(lines[:cut], prefix=workers.prefix)) for cut in cuts]
    produce_file(broker.bootstrap, workers.prefix, lines[: cuts[0]])
    first, second = workers(), workers()
    at_join = wait_processed(first, 0.9 * done[0], patience=REJOIN)
    third = workers()  # joins: three members
    produce_file(broker.bootstrap, workers.prefix, lines[cuts[0] : cuts[1]])
    at_leave = wait_processed(third, 0.9 * done[1], patience=REJOIN)
    first.stop()  # leaves cleanly (SIGTERM): its partitions move at once
    produce_file(broker.bootstrap, workers.prefix, lines[cuts[1] :])
    assert first.process.returncode == 0, first.tail()
    assert at_join < at_leave < total, (at_join, at_leave, total)
    assert_exact([second, third], expected)


@pytest.mark.integration
def test_broker_frozen_30s_under_two_workers(tmp_path: Path) -> None:
    path, lines = history(tmp_path, customers=400, days=150)
    prefix, group = f"pause{os.getpid()}.", f"pause{os.getpid()}"
    expected = reference.compute(lines, prefix=prefix)
    total = processed(expected)
    with EmbeddedBroker() as broker:  # its own broker: the session one is shared
        assert broker.process is not None
        # half the input before, half after the pause: the workers are mid-stream
        # when the broker stops, however fast they are
        half = len(lines) // 2
        produce_file(broker.bootstrap, prefix, lines[:half])
        live = [
            Worker(broker.bootstrap, prefix, group, log=tmp_path / f"w{i}.log") for i in range(2)
        ]
        try:
            at_pause = wait_processed(live[0], 0.25 * total, patience=REJOIN)
            with stopped(broker.process):
                time.sleep(30)  # the fault itself, not an assertion
            produce_file(broker.bootstrap, prefix, lines[half:])
            assert at_pause < total, "the workers finished before the broker was paused"
            assert_exact(live, expected)  # fails if a worker exited
        finally:
            for worker in live:
                worker.stop()
