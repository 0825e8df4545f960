"""Helpers for the fault-injection tests: progress polling, kill -9, pausing a process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests import reference
from tests.integration.conftest import Worker, settle

PROCESSED = "saas_events_processed_total"


def processed(samples: dict[str, float] | None) -> float:
    """Events applied so far, over all topics (the engine's global count)."""
    return sum(v for k, v in (samples or {}).items() if k.startswith(PROCESSED))


def wait_processed(worker: Worker, at_least: float, patience: float, poll: float = 0.05) -> float:
    """Poll /metrics until the processed count reaches `at_least`; return the count seen.

    Fails (with the worker's log) if the worker exits or the count is not reached in time.
    """
    deadline = time.monotonic() + patience
    seen = 0.0
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited with {worker.process.returncode}:\n{worker.tail()}")
        seen = processed(worker.scrape())
        if seen >= at_least:
            return seen
        time.sleep(poll)
    pytest.fail(f"processed count stayed at {seen} < {at_least} for {patience}s:\n{worker.tail()}")


def kill9(worker: Worker) -> None:
    """SIGKILL the worker process: no shutdown, no commit, no flush."""
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(10)


@contextlib.contextmanager
def stopped(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """SIGSTOP `process` for the body of the block; SIGCONT it whatever happens."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def settle_all(worker: Worker, expected: dict[str, float], patience: float) -> dict[str, float]:
    """`settle`, but a failure also lists every metric that differs from the reference."""
    try:
        return settle(worker, expected, patience=patience)
    except pytest.fail.Exception as exc:
        problems = reference.diff(expected, worker.scrape() or {})
        pytest.fail(f"{exc.msg}\nfull diff vs reference:\n" + "\n".join(problems), pytrace=False)
