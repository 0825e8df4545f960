"""Recovery time after 1 and after 4 years of one simulated business, with and without
store snapshots (issue 12): the `recovery` phase of bench/run.py.

For each history length a fresh deployment ingests the history with snapshots
every 2 s, settles, writes a last snapshot and stops cleanly (offsets
committed: a restart replays no input). Then a worker of the same group is
started twice: with snapshots off (`STREAMKPI_SNAPSHOT_INTERVAL=0`, the
reader folds the whole facts topic) and on (it restores the newest snapshot
and folds the facts after it). Recovery = process start -> /metrics shows
every event again (Python start-up and the group join included, the same in
both). With snapshots the 4 y / 1 y ratio should stay near 1 (goal <= 1.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Iterator
from typing import Any

from bench import harness as h
from engine.ingest import produce, read_lines
from engine.simulation import SimConfig, write_history

SNAPSHOT_EVERY = "2"


@contextlib.contextmanager
def env(**values: str) -> Iterator[None]:
    """Environment for the workers started inside (they copy os.environ)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def total(worker: h.Worker) -> float | None:
    metrics = worker.scrape(timeout=5.0)
    if metrics is None:
        return None
    return sum(v for k, v in metrics.items() if k.startswith("saas_events_processed_total"))


def expected_total(lines: list[bytes], prefix: str) -> float:
    """Events the history applies, from the independent reference (tests/reference.py)."""
    from tests import reference

    samples = reference.compute(lines, prefix=prefix)
    return sum(v for k, v in samples.items() if k.startswith("saas_events_processed_total"))


def written(worker: h.Worker) -> int:
    return worker.tail(10_000).count("store snapshot written")


def time_to(worker: h.Worker, target: float, timeout: float, begun: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.check_alive()
        if (total(worker) or 0.0) >= target:
            return time.monotonic() - begun
        time.sleep(0.05)
    raise TimeoutError(f"{worker.log_path.stem}: not back to {target:.0f} events in {timeout:.0f}s")


def run(bench: Any) -> None:
    cfg = bench.config
    customers = 60 if cfg.quick else 200
    times: dict[tuple[int, str], float] = {}
    for years in (1, 4):
        scenario = f"recovery{years}y"
        settings = bench.fresh(scenario)
        path = h.log_dir() / f"{scenario}.jsonl"
        write_history(SimConfig(customers=customers, days=365 * years, seed=11), path)
        lines = list(read_lines(path))
        sent = asyncio.run(produce(settings, lines, progress=False))
        target = expected_total(lines, settings.prefix)
        h.log(f"recovery: {years} y of {customers} customers, {sent:,} messages")
        with env(STREAMKPI_SNAPSHOT_INTERVAL=SNAPSHOT_EVERY, STREAMKPI_LOG_LEVEL="info"):
            first = bench.worker(scenario, f"{scenario}-ingest")
        try:
            time_to(first, target, cfg.timeout, time.monotonic())
            before = written(first)
            deadline = time.monotonic() + 60
            while written(first) == before and time.monotonic() < deadline:
                time.sleep(0.2)  # one more snapshot, after everything
        finally:
            bench.stop(first)
        size = re.findall(r"store snapshot written: ([\d.]+) MB", first.tail(10_000))
        for mode, interval in (("full_replay", "0"), ("snapshot", "3600")):
            with env(STREAMKPI_SNAPSHOT_INTERVAL=interval, STREAMKPI_LOG_LEVEL="info"):
                begun = time.monotonic()
                worker = bench.worker(scenario, f"{scenario}-{mode}")
            try:
                times[years, mode] = time_to(worker, target, cfg.timeout, begun)
                restored = "restored the store snapshot" in worker.tail(10_000)
            finally:
                bench.stop(worker)
            if mode == "snapshot" and not restored:
                raise RuntimeError(f"{scenario}: the restart did not restore a snapshot")
            bench.results.add(
                f"recovery.{years}y_{mode}_s",
                times[years, mode],
                "s",
                f"start -> all {target:,.0f} events on /metrics"
                + (f"; snapshot {size[-1]} MB" if mode == "snapshot" and size else ""),
            )
    for mode in ("full_replay", "snapshot"):
        bench.results.add(
            f"recovery.{mode}_4y_over_1y",
            times[4, mode] / times[1, mode],
            "x",
            "goal <= 1.5 with snapshots",
        )
