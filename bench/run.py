"""The streamkpi benchmark: throughput, latency, scaling and memory in one run.

    python -m bench.run [--events N] [--quick]      (make bench)

Starts the embedded broker (Tansu), produces fixed, seeded workloads into
fresh topics (4 partitions, one topic prefix per scenario) and measures:

1. raw aiokafka consumption of the single-event usage topic (getmany +
   orjson.loads + a dict update): the ceiling a Python consumer reaches here;
2. one `streamkpi run --bootstrap` worker on (a) single-event usage messages,
   (b) usage events batched 100 per message (5x (a)'s count, so that the phase
   lasts long enough to measure: ~15 s), (c) subscription events:
   events / (first processed count > 0 -> processed count = N), /metrics
   polled every 0.2 s -- backing off when a scrape is slow, so that polling
   takes at most 10 % of the worker (a scrape runs on its event loop and
   costs ~0.3 s once it holds a few 100k usage events; --poll-budget 0 polls
   literally);
2b. the peer: Quix Streams (bench/peer.py, `pip install -e '.[bench]'`) on the
   same messages as (a) and (c), timed including its final checkpoint, with
   the engine / peer ratios of this run;
2c. fact replay: a worker started on the facts of (c) (its group has
   committed every input) -- facts applied per second, which decides recovery
   time;
3. produce -> /metrics latency of `subscription.started` markers under a
   steady 5k/s usage load (p50/p99), /metrics polled every 20 ms as asked
   (the headline), and again polled lightly (`*_light_polling` rows);
4. workload (a) with 1 vs 2 workers of one group;
5. worker RSS after many distinct users (10 M of 1 M customers, produced as a
   backlog first: ~3 minutes of the run).

Everything it starts is stopped on exit, error or Ctrl-C. Progress goes to
stderr; the figures, and a last line `usage_events_per_s=... usage_single_events_per_s=...
subscription_events_per_s=... raw_events_per_s=... ratio=... p99_latency_ms=...
replay_facts_per_s=... peer_usage_single_events_per_s=... peer_subscription_events_per_s=...`,
to stdout.
The machine is shared: figures vary from run to run, the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import failover, recovery
from bench import harness as h
from bench import workloads as w
from engine.kafka import client_options
from events import schema

USAGE, SUBS = schema.USAGE, schema.SUBSCRIPTIONS
ALL_PHASES = (
    "raw",
    "single",
    "batched",
    "subs",
    "peer",
    "replay",
    "latency",
    "latency_light",
    "latency_batched",
    "scaling",
    "memory",
    "failover",
    "recovery",
)
DEFAULT_PHASES = [p for p in ALL_PHASES if p != "latency_batched"]  # opt-in extra


@dataclass
class Config:
    events: int
    batched_events: int
    sub_events: int
    users: int
    sub_customers: int
    latency_seconds: float
    latency_rate: int
    memory_users: int
    timeout: float
    poll: float
    poll_budget: float
    latency_poll: float
    quick: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Config:
        quick = bool(args.quick)
        events = args.events or (30_000 if quick else 300_000)
        return cls(
            events=events,
            batched_events=args.batched_events or 5 * events,
            sub_events=args.sub_events or events // 2,
            users=100_000,
            sub_customers=20_000,
            latency_seconds=args.latency_seconds or (8.0 if quick else 20.0),
            latency_rate=args.latency_rate,
            memory_users=args.memory_users or (100_000 if quick else 10_000_000),
            timeout=args.timeout,
            poll=args.poll,
            poll_budget=args.poll_budget,
            latency_poll=args.latency_poll,
            quick=quick,
        )


@dataclass
class Results:
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, name: str, value: float | str, unit: str = "", note: str = "") -> None:
        if isinstance(value, float | int) and not isinstance(value, bool):
            self.values[name] = float(value)
            shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
        else:
            shown = str(value)
        h.log(f"{name}: {shown} {unit} {note}".rstrip())
        self.rows.append((name, f"{shown} {unit}".strip(), note))

    def get(self, name: str) -> float:
        return self.values.get(name, math.nan)


# -- workloads -----------------------------------------------------------------
class Workloads:
    """The encoded messages of (a), (b), (c); built on first use, seeded (same bytes each run)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @cached_property
    def single(self) -> list[w.Message]:
        cfg = self.config
        h.log(f"generating (a): {cfg.events:,} usage events, one per message")
        return list(w.single(w.usage_events(cfg.events, users=cfg.users, seed=1), "user_id"))

    @cached_property
    def batched(self) -> list[w.Message]:
        cfg = self.config
        events = cfg.batched_events
        h.log(f"generating (b): {events:,} usage events, 100 per message")
        return list(w.batched(w.usage_events(events, users=cfg.users, seed=1), size=100))

    @cached_property
    def scaling(self) -> list[w.Message]:
        cfg = self.config
        h.log(f"generating the scaling backlog: {2 * cfg.events:,} usage events, one per message")
        events = w.usage_events(2 * cfg.events, users=cfg.users, seed=6, id_prefix="s")
        return list(w.single(events, "user_id"))

    @cached_property
    def subscriptions(self) -> list[w.Message]:
        cfg = self.config
        h.log(f"generating (c): {cfg.sub_events:,} subscription events")
        events = w.subscription_events(cfg.sub_events, customers=cfg.sub_customers, seed=2)
        return list(w.single(events, "customer_id"))


class Bench:
    def __init__(self, config: Config, results: Results) -> None:
        self.config = config
        self.results = results
        self.run_id = f"bench{os.getpid()}-{int(time.time()) % 100_000}"
        self.broker = h.start_broker()
        self.bootstrap = self.broker.bootstrap
        h.log(f"embedded broker on {self.bootstrap}; worker logs in {h.log_dir()}")
        self.loads = Workloads(config)
        self.facts_of: tuple[str, int] | None = None

    def phases(self) -> dict[str, Callable[[], None]]:
        cfg, loads = self.config, self.loads
        return {
            "raw": self.raw_baseline,
            "single": lambda: self.engine_throughput(
                "single",
                USAGE,
                loads.single,
                cfg.events,
                "engine_single_events_per_s",
                "(a) one usage event per message",
            ),
            "batched": lambda: self.engine_throughput(
                "batched",
                USAGE,
                loads.batched,
                cfg.batched_events,
                "engine_batched_events_per_s",
                "(b) 100 usage events per message",
            ),
            "subs": lambda: self.engine_throughput(
                "subs",
                SUBS,
                loads.subscriptions,
                cfg.sub_events,
                "engine_subscription_events_per_s",
                f"(c) started/changed/canceled, {cfg.sub_customers:,} customers",
            ),
            "peer": self.peer,
            "replay": self.replay,
            "latency": self.latency,
            "latency_light": lambda: self.latency(1, "_light_polling", poll=0.2, budget=0.1),
            "latency_batched": lambda: self.latency(100, "_batched_load"),
            "scaling": self.scaling,
            "memory": self.memory,
            "failover": lambda: failover.run(self),
            "recovery": lambda: recovery.run(self),
        }

    def prefix(self, scenario: str) -> str:
        return f"{self.run_id}-{scenario}."

    def fresh(self, scenario: str) -> Any:
        return asyncio.run(h.create_topics(self.bootstrap, self.prefix(scenario)))

    def produce(self, settings: Any, suffix: str, messages: list[w.Message], label: str) -> float:
        sent, seconds = asyncio.run(
            h.produce(settings, settings.topic(suffix), messages, label, len(messages))
        )
        assert sent == len(messages)
        return seconds

    def worker(self, scenario: str, name: str) -> h.Worker:
        return h.Worker(self.bootstrap, self.prefix(scenario), f"{self.run_id}-{scenario}", name)

    def stop(self, *workers: h.Worker) -> None:
        for worker in workers:
            worker.stop()

    def measure(self, workers: list[h.Worker], suffix: str, events: int, label: str) -> h.Progress:
        """progress.rate(events): events / (last poll that saw none processed -> first
        poll that saw all), a lower bound."""
        return h.wait_processed(
            workers,
            suffix,
            events,
            self.config.timeout,
            self.config.poll,
            label,
            budget=self.config.poll_budget,
        )

    # -- phases ----------------------------------------------------------------
    def raw_baseline(self, runs: int = 3) -> None:
        """Plain aiokafka on topic (a): getmany + orjson.loads + a dict update (median of 3)."""
        settings = self.fresh("raw")
        messages = self.loads.single
        self.produce(settings, USAGE, messages, "raw/single")
        rates = sorted(
            asyncio.run(raw_consume(settings, settings.topic(USAGE), len(messages)))
            for _ in range(runs)
        )
        self.results.add(
            "raw_events_per_s",
            statistics.median(rates),
            "ev/s",
            f"aiokafka getmany+orjson+dict on (a); median of {runs} reads "
            f"({rates[0]:,.0f}..{rates[-1]:,.0f})",
        )
        settings = self.fresh("rawb")
        self.produce(settings, USAGE, self.loads.batched, "raw/batched")
        batched = sorted(
            asyncio.run(
                raw_consume(settings, settings.topic(USAGE), len(self.loads.batched), per=100)
            )
            for _ in range(runs)
        )
        self.results.add(
            "raw_batched_events_per_s",
            statistics.median(batched),
            "ev/s",
            f"same on (b), for reference; median of {runs}",
        )

    def engine_throughput(
        self,
        scenario: str,
        suffix: str,
        messages: list[w.Message],
        events: int,
        name: str,
        note: str,
    ) -> None:
        settings = self.fresh(scenario)
        self.produce(settings, suffix, messages, scenario)
        worker = self.worker(scenario, f"{scenario}-w0")
        try:
            started = time.monotonic()
            progress = self.measure([worker], suffix, events, f"engine {scenario}")
            time.sleep(0.5)
            scrape = scrape_cost(worker)
            rss, _hwm = worker.rss_kib()
        finally:
            self.stop(worker)
        if scenario == "subs":
            self.facts_of = (scenario, events)  # the replay phase starts from these facts
        res = self.results
        rate = progress.rate(events)
        res.add(name, rate, "ev/s", f"{note}; {events:,} events in {events / rate:.1f}s")
        res.add(
            f"{name}.startup_s",
            progress.first - started,
            "s",
            "worker start -> first processed count",
        )
        res.add(
            f"{name}.scrape_share",
            100 * progress.scrape_share,
            "%",
            f"of the measured time spent answering polls (upper bound); mean poll interval "
            f"{progress.mean_interval:.2f} s",
        )
        res.add(f"{name}.scrape_ms", scrape * 1000, "ms", "one /metrics request, idle, after")
        res.add(f"{name}.rss_mib", rss / 1024, "MiB", "worker RSS after")

    def latency(
        self, batch: int = 1, name: str = "", poll: float | None = None, budget: float = 0.0
    ) -> None:
        """Markers under a steady usage load of `batch`-event messages; figures named `name`.

        /metrics is polled every `poll` s (default --latency-poll, 20 ms), backing off to
        `scrape time / budget` when `budget` > 0.
        """
        cfg = self.config
        poll = cfg.latency_poll if poll is None else poll
        scenario = f"lat{batch}{name.replace('_', '-')}"
        settings = self.fresh(scenario)
        worker = self.worker(scenario, f"{scenario}-w0")
        try:
            worker.wait_ready()
            warm = list(
                w.single(
                    w.usage_events(cfg.latency_rate * 4, users=cfg.users, seed=3, id_prefix="warm"),
                    "user_id",
                )
            )
            self.produce(settings, USAGE, warm, "lat/warm-up")
            self.measure([worker], USAGE, len(warm), "lat warm-up")
            h.log(
                f"latency: {cfg.latency_rate} usage ev/s in messages of {batch} for "
                f"{cfg.latency_seconds:.0f}s, a subscription.started marker every 100 ms, "
                f"/metrics every {poll * 1000:.0f} ms"
                + (f" (at most {budget:.0%} of the worker's time)" if budget else "")
            )
            probe = asyncio.run(
                latency_probe(settings, worker, cfg, len(warm), batch, poll, budget)
            )
        finally:
            self.stop(worker)
        res = self.results
        lat = sorted(probe.latencies)
        if not lat:
            res.failures.append(f"latency{name}: no marker was produced")
            return
        censored = probe.markers - probe.seen
        note = f"{probe.seen}/{probe.markers} markers seen in /metrics"
        if censored:
            note += f"; {censored} never seen, counted with their wait so far (a lower bound)"
        load = "single-event" if batch == 1 else f"{batch}-event"
        polls = f"polls every {poll * 1000:.0f} ms"
        if budget:
            polls = f"polls every >= {poll * 1000:.0f} ms (mean {probe.poll_mean * 1000:.0f} ms)"
        res.add(
            f"p50_latency_ms{name}",
            percentile(lat, 50),
            "ms",
            f"{load} usage load, {polls}; {note}",
        )
        res.add(f"p99_latency_ms{name}", percentile(lat, 99), "ms", "produce -> /metrics")
        res.add(f"max_latency_ms{name}", lat[-1], "ms")
        res.add(f"latency{name}.usage_rate", probe.usage_rate, "ev/s", "usage load produced")
        res.add(
            f"latency{name}.usage_lag_end",
            probe.usage_lag,
            "ev",
            "usage produced but not yet in /metrics when the load stopped",
        )
        res.add(
            f"latency{name}.scrape_ms_mean",
            probe.scrape_mean,
            "ms",
            f"/metrics response time under load (p99 {probe.scrape_p99:.0f} ms)",
        )

    def peer(self) -> None:
        """Quix Streams (bench/peer.py) on the same messages as (a) and (c), same broker."""
        cfg, res = self.config, self.results
        jobs = (
            ("usage", self.loads.single, cfg.events, "peer_usage_single_events_per_s", "single"),
            (
                "subscriptions",
                self.loads.subscriptions,
                cfg.sub_events,
                "peer_subscription_events_per_s",
                "subscription",
            ),
        )
        settings = h.settings_for(self.bootstrap, self.prefix("peer"))
        for workload, messages, events, name, ours in jobs:
            topic = settings.topic(workload)
            asyncio.run(h.create_peer_topic(self.bootstrap, topic))
            asyncio.run(h.produce(settings, topic, messages, f"peer/{workload}", len(messages)))
            h.log(f"peer: Quix Streams on {events:,} {workload} events")
            result = h.run_peer(self.bootstrap, topic, workload, events, cfg.timeout)
            rate = events / result["seconds"]
            res.add(
                name,
                rate,
                "ev/s",
                f"Quix Streams {_quix_version()}, RocksDB state + changelog, at-least-once; "
                f"{events:,} events in {result['seconds']:.1f}s incl. its final checkpoint",
            )
            res.add(
                f"{name}.before_checkpoint",
                events / result["seconds_before_checkpoint"],
                "ev/s",
                "the same, first to last event",
            )
            engine = res.get(f"engine_{ours}_events_per_s")
            if not math.isnan(engine):
                res.add(f"engine_to_peer.{workload}", engine / rate, "x", "same run; target >= 1")

    def replay(self) -> None:
        """A worker's reader started on the facts of (c) (those of its own run when
        phase subs ran): facts applied per second from its start to caught up."""
        if self.facts_of is None:
            settings = self.fresh("replay")
            self.produce(settings, SUBS, self.loads.subscriptions, "replay")
            first = self.worker("replay", "replay-w0")
            try:
                self.measure([first], SUBS, self.config.sub_events, "replay: make facts")
            finally:
                self.stop(first)
            self.facts_of = ("replay", self.config.sub_events)
        scenario, events = self.facts_of
        settings = h.settings_for(self.bootstrap, self.prefix(scenario))
        rates = []
        for _ in range(3):
            facts, seconds = asyncio.run(h.replay(settings))
            if facts != events:
                raise AssertionError(f"replay applied {facts:,} facts, expected {events:,}")
            rates.append(facts / seconds)
        rates.sort()
        self.results.add(
            "replay_facts_per_s",
            statistics.median(rates),
            "facts/s",
            f"{events:,} subscription facts, reader start -> caught up (connect, seek, "
            f"fetch, decode, Store.apply); median of 3 ({rates[0]:,.0f}..{rates[-1]:,.0f})",
        )

    def scaling(self) -> None:
        """A backlog of single-event usage for 1, then 2 workers of one group: the pace
        from the first poll after the group is stable to all processed. A worker now
        outruns this benchmark's producer, so the backlog is produced first, twice (a)'s
        size so that the pace is measured after the group formed."""
        rates = {}
        messages = self.loads.scaling
        for count in (1, 2):
            scenario = f"scale{count}"
            settings = self.fresh(scenario)
            self.produce(settings, USAGE, messages, f"{scenario}/single")
            workers = [self.worker(scenario, f"{scenario}-w{i}") for i in range(count)]
            try:
                wait_stable(settings, f"{self.run_id}-{scenario}", count, workers)
                stable = time.monotonic()
                progress = self.measure(workers, USAGE, len(messages), f"engine {count} worker(s)")
            finally:
                self.stop(*workers)
            rates[count] = progress.pace_after(stable, len(messages))
            self.results.add(
                f"scaling.{count}_worker_events_per_s",
                rates[count],
                "ev/s",
                f"{len(messages):,} single-event usage messages as a backlog, pace after the "
                f"group is stable; all in {progress.end - progress.last_idle:.1f}s",
            )
        self.results.add(
            "scaling.ratio_2_to_1",
            rates[2] / rates[1],
            "x",
            "2 workers / 1 worker (2 cores shared with broker + producer)",
        )

    def memory(self) -> None:
        users = self.config.memory_users
        settings = self.fresh("mem")
        customers = max(1, users // 10)
        h.log(f"memory: {users:,} distinct users of {customers:,} customers, 100 per message")
        messages = w.batched(
            w.usage_events(users, customers=customers, seed=4, id_prefix="m", distinct_users=True),
            size=100,
        )
        asyncio.run(
            h.produce(settings, settings.topic(USAGE), messages, "mem/batched", -(-users // 100))
        )
        worker = self.worker("mem", "mem-w0")
        points: list[tuple[float, int]] = []
        try:
            worker.wait_ready()
            idle = worker.rss_kib()[0]
            marks = [users * q // 4 for q in (1, 2, 3)]

            def on_sample(_now: float, count: float) -> None:
                if marks and count >= marks[0]:
                    while marks and count >= marks[0]:
                        marks.pop(0)
                    if count < users:
                        points.append((count, worker.rss_kib()[0]))

            progress = h.wait_processed(
                [worker],
                USAGE,
                users,
                self.config.timeout,
                self.config.poll,
                "engine mem",
                on_sample,
                self.config.poll_budget,
            )
            time.sleep(2.0)
            rss, hwm = worker.rss_kib()
            points.append((users, rss))
        finally:
            self.stop(worker)
        res = self.results
        res.add("memory.idle_rss_mib", idle / 1024, "MiB", "worker started, no data yet")
        for count, kib in points:
            res.add(f"memory.rss_mib@{count:,.0f}_users", kib / 1024, "MiB", "VmRSS")
        res.add(
            "memory.peak_rss_mib",
            hwm / 1024,
            "MiB",
            f"VmHWM after {users:,} distinct users of {customers:,} customers",
        )
        res.add(
            "memory.users_per_s",
            users / progress.seconds,
            "ev/s",
            "batched, every event a new user",
        )
        if users < 10_000_000 and len(points) >= 2:
            # the slope over the second half of the run (the start includes warm-up growth)
            (n0, r0) = next(p for p in points if p[0] >= users / 2 or p is points[-2])
            (n1, r1) = points[-1]
            slope = (r1 - r0) / max(1.0, n1 - n0)
            at10m = r1 + slope * (10_000_000 - n1)
            res.add(
                "memory.rss_mib@10M_users_extrapolated",
                at10m / 1024,
                "MiB",
                f"NOT MEASURED: linear extrapolation of the {n0:,.0f}->{n1:,.0f} slope "
                f"({slope * 1024:.0f} B/user); the default run measures 10M",
            )


# -- raw consumer ----------------------------------------------------------------
async def raw_consume(settings: Any, topic: str, messages: int, per: int = 1) -> float:
    """events/s of getmany + orjson.loads + a dict update, from the first record to the last."""
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False, auto_offset_reset="earliest", **client_options(settings)
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(h.PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        last_seen: dict[str, str] = {}
        seen = 0
        first: float | None = None
        while seen < messages:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            if batches and first is None:
                first = time.monotonic()
            for records in batches.values():
                for record in records:
                    body = orjson.loads(record.value)
                    if per == 1:
                        last_seen[body["user_id"]] = body["ts"]
                    else:
                        for event in body:
                            last_seen[event["user_id"]] = event["ts"]
                seen += len(records)
        assert first is not None
        return messages * per / (time.monotonic() - first)
    finally:
        await consumer.stop()


# -- latency -------------------------------------------------------------------
@dataclass
class Probe:
    latencies: list[float]
    markers: int
    seen: int
    usage_rate: float
    usage_lag: float
    scrape_mean: float
    scrape_p99: float
    poll_mean: float


class Poller(threading.Thread):
    """Scrapes /metrics every `interval` s (or back to back when a scrape is slower)."""

    def __init__(
        self, worker: h.Worker, interval: float, usage_topic: str, budget: float = 0.0
    ) -> None:
        super().__init__(daemon=True)
        self.worker = worker
        self.interval = interval
        self.budget = budget
        self.usage_key = f'saas_events_processed_total{{topic="{usage_topic}"}}'
        self.samples: list[tuple[float, float, float]] = []  # (time, paying, usage processed)
        self.durations: list[float] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            begun = time.monotonic()
            metrics = self.worker.scrape(timeout=5.0)
            done = time.monotonic()
            if metrics is not None:
                self.durations.append(done - begun)
                self.samples.append(
                    (
                        done,
                        metrics.get("saas_paying_customers", 0.0),
                        metrics.get(self.usage_key, 0.0),
                    )
                )
            took = done - begun
            wait = max(self.interval, took / self.budget) if self.budget else self.interval
            self.halt.wait(max(0.0, wait - took))


async def latency_probe(
    settings: Any,
    worker: h.Worker,
    cfg: Config,
    warm: int,
    batch: int,
    poll: float,
    budget: float,
) -> Probe:
    usage_topic, subs_topic = settings.topic(USAGE), settings.topic(SUBS)
    load = h.producer(settings, linger_ms=5)
    marker_producer = h.producer(settings, linger_ms=0)
    await load.start()
    await marker_producer.start()
    poller = Poller(worker, poll, usage_topic, budget)
    poller.start()
    sent_at: list[float] = []
    # the load's ts spread over the last day before the markers' (the as-of day)
    capacity = int(cfg.latency_rate * cfg.latency_seconds * 1.5) + 1000
    events = w.usage_events(capacity, users=cfg.users, days=1, seed=5, id_prefix="lat")
    usage = w.single(events, "user_id") if batch == 1 else w.batched(events, batch)
    tag = f"{os.getpid()}-{batch}"
    try:
        begun = time.monotonic()
        produced = 0
        next_marker = begun
        pending: list[asyncio.Future[object]] = []
        while (now := time.monotonic()) - begun < cfg.latency_seconds:
            due = int((now - begun) * cfg.latency_rate)
            while produced + batch <= due:
                key, value = next(usage)
                pending.append(await load.send(usage_topic, value, key=key))
                produced += batch
            if now >= next_marker:
                index = len(sent_at)
                event = w.marker_event(index, w.END_TS + index, tag)
                sent_at.append(time.monotonic())
                # partition 0 for every marker: they are applied in produce order
                await marker_producer.send_and_wait(
                    subs_topic,
                    orjson.dumps(event),
                    key=str(event["customer_id"]).encode(),
                    partition=0,
                )
                next_marker += 0.1
            if len(pending) > 2000:
                await asyncio.gather(*pending)
                pending = []
            await asyncio.sleep(0.005)
        await load.flush()
        await asyncio.gather(*pending)
        elapsed = time.monotonic() - begun
        # let the worker show the last markers (or give up)
        deadline = time.monotonic() + (10 if cfg.quick else 30)
        while time.monotonic() < deadline:
            last = poller.samples[-1] if poller.samples else None
            # every marker seen, and one sample after the load stopped (the usage lag)
            if last and last[1] >= len(sent_at) and last[0] >= begun + elapsed:
                break
            await asyncio.sleep(0.05)
    finally:
        poller.halt.set()
        await asyncio.to_thread(poller.join, 10)
        await load.stop()
        await marker_producer.stop()
    end_time = begun + elapsed
    lag = next(
        (warm + produced - u for t, _p, u in poller.samples if t >= end_time),
        math.nan,
    )
    latencies = []
    index = 0
    for seen_at, paying, _usage in poller.samples:
        while index < len(sent_at) and paying >= index + 1:
            latencies.append((seen_at - sent_at[index]) * 1000)
            index += 1
    seen = index
    last = poller.samples[-1][0] if poller.samples else time.monotonic()
    latencies.extend((last - sent) * 1000 for sent in sent_at[seen:])  # censored
    durations = sorted(d * 1000 for d in poller.durations) or [math.nan]
    return Probe(
        latencies=latencies,
        markers=len(sent_at),
        seen=seen,
        usage_rate=produced / elapsed,
        usage_lag=lag,
        scrape_mean=statistics.fmean(durations),
        scrape_p99=percentile(durations, 99),
        poll_mean=(poller.samples[-1][0] - poller.samples[0][0]) / max(1, len(poller.samples) - 1)
        if poller.samples
        else math.nan,
    )


# -- helpers -------------------------------------------------------------------------
def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def scrape_cost(worker: h.Worker) -> float:
    begun = time.monotonic()
    worker.scrape()
    return time.monotonic() - begun


def wait_stable(
    settings: Any, group: str, members: int, workers: list[h.Worker], timeout: float = 90.0
) -> None:
    """Wait until the group is Stable with `members` members."""
    deadline = time.monotonic() + timeout
    state, joined = "?", 0
    while time.monotonic() < deadline:
        for worker in workers:
            worker.check_alive()
        try:
            state, joined = asyncio.run(h.group_members(settings, group))
        except Exception as exc:  # noqa: BLE001 - report and retry
            state = f"error {exc!r}"
        if state == "Stable" and joined == members:
            time.sleep(1.0)  # Faust starts its fetchers right after the assignment
            return
        time.sleep(0.5)
    raise TimeoutError(f"group {group}: {state} with {joined}/{members} members")


def print_table(results: Results, config: Config, load: tuple[float, float]) -> None:
    width = max(len(name) for name, _, _ in results.rows) + 2
    print()
    print(
        f"streamkpi benchmark ({'quick' if config.quick else 'default'} run; "
        f"{os.cpu_count()} CPUs; load average {load[0]:.2f} at start, {load[1]:.2f} at end)"
    )
    print("NOTE: a shared, noisy 2-core machine: broker, worker(s) and this producer compete")
    print("for the same CPUs (and with whatever else runs there); expect run-to-run variation.")
    print(
        f"Throughput: /metrics polled every {config.poll:g} s, backing off so that scrapes (which"
    )
    print(f"run on the worker's event loop) take at most {config.poll_budget:.0%} of its time.")
    print(
        f"Latency: /metrics polled every {config.latency_poll * 1000:.0f} ms without back-off "
        "(the *_light_polling rows: every 0.2 s with the back-off)."
    )
    print()
    print(f"{'figure':<{width}}{'value':>18}  note")
    print("-" * (width + 60))
    for name, value, note in results.rows:
        print(f"{name:<{width}}{value:>18}  {note}")
    for failure in results.failures:
        print(f"FAILED: {failure}")
    print()


def final_line(results: Results) -> str:
    single = results.get("engine_single_events_per_s")
    batched = results.get("engine_batched_events_per_s")
    usage = max((v for v in (single, batched) if not math.isnan(v)), default=math.nan)
    raw = results.get("raw_events_per_s")
    ratio = usage / raw if raw else math.nan
    return (
        f"usage_events_per_s={usage:.0f} "
        f"usage_single_events_per_s={single:.0f} "
        f"subscription_events_per_s={results.get('engine_subscription_events_per_s'):.0f} "
        f"raw_events_per_s={raw:.0f} ratio={ratio:.3f} "
        f"p99_latency_ms={results.get('p99_latency_ms'):.1f} "
        f"replay_facts_per_s={results.get('replay_facts_per_s'):.0f} "
        f"peer_usage_single_events_per_s={results.get('peer_usage_single_events_per_s'):.0f} "
        f"peer_subscription_events_per_s={results.get('peer_subscription_events_per_s'):.0f}"
    )


def _quix_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quixstreams")
    except PackageNotFoundError:
        return "(not installed: pip install -e '.[bench]')"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--events", type=int, help="usage events of (a) (default 300k; --quick 30k)"
    )
    parser.add_argument(
        "--batched-events",
        type=int,
        help="usage events of (b), 100 per message (default 5x --events: a 300k-event phase "
        "lasted ~3 s, measured with polls up to 2 s apart)",
    )
    parser.add_argument("--quick", action="store_true", help="a ~2 minute smoke run")
    parser.add_argument("--sub-events", type=int, help="subscription events (default events/2)")
    parser.add_argument(
        "--memory-users",
        type=int,
        help="distinct users of the memory run, one customer per 10 (default 10M, the issue's "
        "target: ~40 s to produce, ~2 min to process here; --quick 100k)",
    )
    parser.add_argument("--latency-seconds", type=float, help="steady load duration (20; quick 8)")
    parser.add_argument("--latency-rate", type=int, default=5000, help="usage events/s (5000)")
    parser.add_argument("--poll", type=float, default=0.2, help="/metrics poll interval (0.2 s)")
    parser.add_argument(
        "--poll-budget",
        type=float,
        default=0.1,
        help="max share of a worker's time spent on throughput polls: back off when a scrape "
        "is slow (0.1; 0 = poll literally every --poll)",
    )
    parser.add_argument(
        "--latency-poll", type=float, default=0.02, help="/metrics poll interval (0.02 s)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="per phase (600 s)")
    parser.add_argument(
        "--only",
        help="comma-separated phases (default: all but latency_batched): raw,single,batched,"
        "subs,peer,replay,latency,latency_light,latency_batched,scaling,memory,failover,recovery",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = Config.from_args(args)
    signal.signal(signal.SIGTERM, _terminate)
    wanted = args.only.split(",") if args.only else DEFAULT_PHASES
    unknown = [name for name in wanted if name not in ALL_PHASES]
    if unknown:
        print(f"unknown phase(s) {unknown}; known: {', '.join(ALL_PHASES)}", file=sys.stderr)
        return 2
    begun, load_start = time.monotonic(), os.getloadavg()[0]
    results = Results()
    try:
        bench = Bench(config, results)
        phases = bench.phases()
        for name in wanted:
            h.log(f"=== phase {name}")
            try:
                phases[name]()
            except (TimeoutError, RuntimeError, AssertionError, OSError) as exc:
                results.failures.append(f"{name}: {exc}")
                h.log(f"phase {name} FAILED: {exc}")
                h.stop_workers()
    except KeyboardInterrupt:
        h.log("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the figures so far, then the reason
        results.failures.append(f"setup: {exc!r}")
    finally:
        h.stop_all()
    results.add("bench.wall_s", time.monotonic() - begun, "s", "whole run")
    print_table(results, config, (load_start, os.getloadavg()[0]))
    if results.failures:
        print(f"worker logs kept in {h.log_dir()}", file=sys.stderr)
    else:
        h.remove_logs()
    print(final_line(results), flush=True)
    return 1 if results.failures else 0


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
