"""Failover freshness (issue 12): how long /metrics lags while a worker dies.

Two workers of one group share the input under the latency phase's steady
load (`--latency-rate` usage events/s, single-event messages). Every 100 ms a
marker (`subscription.started` of a new customer) goes to one partition in
turn, on a plan named after that partition, so `saas_plan_customers{plan=
"failover-p<N>"}` on the survivor's /metrics shows which markers of partition
N are applied (in order within a partition). After a steady stretch one
worker is killed with SIGKILL; the load and the markers go on. The figure is
the longest produce -> survivor's /metrics delay of a marker sent during the
failover: the dead member's session timeout, the rebalance, the new owners'
barrier (`GlobalReader.sync`) and the backlog catch-up, all in one number.

What decides it (docs/reliability.md): `STREAMKPI_SESSION_TIMEOUT` (the bench
workers run with 6 s; the default is 10 s), the heartbeat (session / 10) and
the rebalance timeout (= session), Faust's commit interval (uncommitted input
is replayed by the new owner) and the time to replay it.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from bench import harness as h
from bench import workloads as w
from events import schema

MARKER_EVERY = 0.1
POLL = 0.05


def marker(index: int, partition: int, tag: str) -> dict[str, object]:
    return {
        "event_id": f"failover-{tag}-{index}",
        "type": "subscription.started",
        "ts": w.rfc3339(w.END_TS + index),
        "customer_id": f"failover-{tag}-{index}",
        "subscription_id": f"failover-sub-{tag}-{index}",
        "plan": f"failover-p{partition}",
        "amount": 4900,
        "currency": "USD",
        "interval": "month",
    }


class Watcher(threading.Thread):
    """Polls the survivor's /metrics every POLL s: (time, markers applied per partition)."""

    def __init__(self, worker: h.Worker) -> None:
        super().__init__(daemon=True)
        self.worker = worker
        self.keys = [f'saas_plan_customers{{plan="failover-p{p}"}}' for p in range(h.PARTITIONS)]
        self.samples: list[tuple[float, list[float]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            begun = time.monotonic()
            metrics = self.worker.scrape(timeout=5.0)
            if metrics is not None:
                self.samples.append((time.monotonic(), [metrics.get(k, 0.0) for k in self.keys]))
            self.halt.wait(max(0.0, POLL - (time.monotonic() - begun)))

    def latest(self) -> list[float]:
        return self.samples[-1][1] if self.samples else [0.0] * h.PARTITIONS


@dataclass
class Outcome:
    sent: list[tuple[float, int]]  # (time, partition) per marker
    delays: list[float]  # seconds, per marker (censored ones: waited so far)
    unseen: int
    killed_at: float
    recovered_at: float
    usage_rate: float


def delays(
    sent: list[tuple[float, int]], samples: list[tuple[float, list[float]]]
) -> list[tuple[float, bool]]:
    """Per marker: (first sample showing it - send time, seen). A marker is shown once
    its partition's count reaches its rank there; one never shown gets its wait so far."""
    rank = [0] * h.PARTITIONS
    last = samples[-1][0] if samples else time.monotonic()
    out = []
    for at, partition in sent:
        rank[partition] += 1
        seen = next(
            (t for t, counts in samples if t >= at and counts[partition] >= rank[partition]),
            None,
        )
        out.append(((seen if seen is not None else last) - at, seen is not None))
    return out


async def drive(
    settings: Any, survivor: h.Worker, victim: h.Worker, rate: int, before: float, after: float
) -> Outcome:
    usage_topic, subs_topic = settings.topic(schema.USAGE), settings.topic(schema.SUBSCRIPTIONS)
    load, markers = h.producer(settings, linger_ms=5), h.producer(settings, linger_ms=0)
    await load.start()
    await markers.start()
    watcher = Watcher(survivor)
    watcher.start()
    sent: list[tuple[float, int]] = []
    events = w.usage_events(int(rate * (before + after) * 1.5) + 1000, days=1, seed=7)
    usage = w.single(events, "user_id")
    tag = f"{int(time.time()) % 100_000}"
    killed_at = math.nan
    try:
        begun = time.monotonic()
        produced, next_marker = 0, begun
        pending: list[asyncio.Future[object]] = []
        while (now := time.monotonic()) - begun < before + after:
            if math.isnan(killed_at) and now - begun >= before:
                victim.process.kill()  # SIGKILL: no leave-group, no commit, no flush
                killed_at = time.monotonic()
                h.log(f"failover: killed {victim.log_path.stem} after {before:.0f}s of load")
            while produced < int((now - begun) * rate):
                key, value = next(usage)
                pending.append(await load.send(usage_topic, value, key=key))
                produced += 1
            if now >= next_marker:
                index = len(sent)
                partition = index % h.PARTITIONS
                event = marker(index, partition, tag)
                sent.append((time.monotonic(), partition))
                await markers.send_and_wait(
                    subs_topic, orjson.dumps(event), key=str(index).encode(), partition=partition
                )
                next_marker += MARKER_EVERY
            if len(pending) > 2000:
                await asyncio.gather(*pending)
                pending = []
            await asyncio.sleep(0.005)
        await load.flush()
        await asyncio.gather(*pending)
        elapsed = time.monotonic() - begun
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _covers(watcher.latest(), sent):
            survivor.check_alive()
            await asyncio.sleep(0.05)
    finally:
        watcher.halt.set()
        await asyncio.to_thread(watcher.join, 10)
        await load.stop()
        await markers.stop()
    samples = watcher.samples
    per_marker = delays(sent, samples)
    # service is back once no marker waits over 1 s: the last slow marker's arrival
    recovered = max(
        (at + d for (at, _p), (d, _s) in zip(sent, per_marker, strict=True) if d > 1.0),
        default=killed_at,
    )
    unseen = sum(1 for _d, seen in per_marker if not seen)
    return Outcome(
        sent, [d for d, _ in per_marker], unseen, killed_at, recovered, produced / elapsed
    )


def _covers(counts: list[float], sent: list[tuple[float, int]]) -> bool:
    need = [0] * h.PARTITIONS
    for _t, partition in sent:
        need[partition] += 1
    return all(c >= n for c, n in zip(counts, need, strict=True))


def run(bench: Any) -> None:
    """The `failover` phase of bench/run.py (`bench` is its Bench)."""
    cfg = bench.config
    scenario = "failover"
    settings = bench.fresh(scenario)
    workers = [bench.worker(scenario, f"{scenario}-w{i}") for i in range(2)]
    survivor, victim = workers
    before, after = (8.0, 25.0) if cfg.quick else (15.0, 35.0)
    try:
        for worker in workers:
            worker.wait_ready()
        from bench.run import wait_stable

        wait_stable(settings, f"{bench.run_id}-{scenario}", 2, workers)
        h.log(
            f"failover: {cfg.latency_rate} usage ev/s, a marker every {MARKER_EVERY:g} s over "
            f"{h.PARTITIONS} partitions; kill -9 one of 2 workers after {before:.0f}s"
        )
        outcome = asyncio.run(drive(settings, survivor, victim, cfg.latency_rate, before, after))
    finally:
        bench.stop(*workers)
    report(bench.results, outcome)


def report(results: Any, outcome: Outcome) -> None:
    steady = [
        d
        for (t, _p), d in zip(outcome.sent, outcome.delays, strict=True)
        if t < outcome.killed_at - 1
    ]
    during = [
        d
        for (t, _p), d in zip(outcome.sent, outcome.delays, strict=True)
        if t >= outcome.killed_at - 1
    ]
    if not steady or not during:
        results.failures.append("failover: no marker before or after the kill")
        return
    note = f"{len(during)} markers sent from 1 s before the kill on"
    if outcome.unseen:
        note += f"; {outcome.unseen} never seen (counted with their wait: a lower bound)"
    results.add("failover.max_delay_s", max(during), "s", f"produce -> survivor /metrics; {note}")
    results.add(
        "failover.p50_delay_s_steady",
        statistics.median(steady),
        "s",
        "the same, before the kill (two workers)",
    )
    results.add(
        "failover.recovered_s",
        outcome.recovered_at - outcome.killed_at,
        "s",
        "kill -> the last marker delayed over 1 s shows up (service back to normal)",
    )
    results.add(
        "failover.delayed_over_1s",
        float(sum(1 for d in during if d > 1.0)),
        "markers",
        "of those sent during the failover",
    )
    results.add("failover.usage_rate", outcome.usage_rate, "ev/s", "usage load produced")
