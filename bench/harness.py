"""Processes and I/O of the benchmark: broker, `streamkpi run` workers, producing, scraping.

Every process started here is registered and stopped by `stop_all()` (the
runner calls it in a `finally`, on SIGTERM and at exit), so an error or a
Ctrl-C never leaves a worker or the broker behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.workloads import Message
from engine.broker import EmbeddedBroker, ensure_topics
from engine.kafka import client_options
from engine.process import WorkerProcess, streamkpi_command
from engine.settings import Settings, load

_PROCESSES: list[subprocess.Popen[bytes]] = []
_BROKERS: list[EmbeddedBroker] = []
_LOG_DIR: list[Path] = []


def log_dir() -> Path:
    """Where the worker logs go (created on first use; removed by a run without failures)."""
    if not _LOG_DIR:
        _LOG_DIR.append(Path(tempfile.mkdtemp(prefix="streamkpi-bench-")))
    return _LOG_DIR[0]


def remove_logs() -> None:
    if _LOG_DIR:
        shutil.rmtree(_LOG_DIR.pop(), ignore_errors=True)


PARTITIONS = 4


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stop_all() -> None:
    """Terminate every worker (then the broker); kill what does not stop in time."""
    for process in _PROCESSES:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 20
    for process in _PROCESSES:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        if process.poll() is None:
            process.kill()
            process.wait()
    _PROCESSES.clear()
    for broker in _BROKERS:
        broker.stop()
    _BROKERS.clear()


def stop_workers() -> None:
    """Stop every worker still running (after a failed phase); the broker stays."""
    for process in _PROCESSES:
        if process.poll() is None:
            process.terminate()
    for process in _PROCESSES:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _PROCESSES[:] = [p for p in _PROCESSES if p.poll() is None]


def start_broker() -> EmbeddedBroker:
    broker = EmbeddedBroker()
    _BROKERS.append(broker)
    return broker.start()


def settings_for(bootstrap: str, prefix: str) -> Settings:
    return load({"bootstrap": bootstrap, "prefix": prefix, "partitions": PARTITIONS}, environ={})


async def create_topics(bootstrap: str, prefix: str) -> Settings:
    settings = settings_for(bootstrap, prefix)
    await ensure_topics(settings, client_options(settings))
    return settings


def producer(settings: Settings, linger_ms: int = 20) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        linger_ms=linger_ms,
        max_batch_size=1 << 20,
        max_request_size=4 << 20,
        **client_options(settings),
    )


async def produce(
    settings: Settings, topic: str, messages: Iterable[Message], label: str, total: int
) -> tuple[int, float]:
    """Send everything as fast as the producer goes; (messages, seconds) once all are acked."""
    from tqdm import tqdm

    client = producer(settings)
    await client.start()
    sent = 0
    begun = time.monotonic()
    try:
        pending: list[asyncio.Future[object]] = []
        with tqdm(total=total, unit="msg", desc=f"produce {label}", file=sys.stderr) as bar:
            for key, value in messages:
                pending.append(await client.send(topic, value, key=key))
                sent += 1
                if len(pending) >= 5000:
                    await asyncio.gather(*pending)
                    bar.update(len(pending))
                    pending = []
            await client.flush()
            await asyncio.gather(*pending)
            bar.update(len(pending))
    finally:
        await client.stop()
    return sent, time.monotonic() - begun


async def create_peer_topic(bootstrap: str, topic: str) -> None:
    """An input topic for the Quix Streams peer, with `retention.ms` set: Tansu's
    DescribeConfigs leaves broker defaults out, and Quix Streams reads it to make
    the changelog topics."""
    from aiokafka.admin import NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topic_configs = {"retention.ms": "-1"}
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1, topic_configs=topic_configs)])
    finally:
        await admin.close()


def run_peer(bootstrap: str, topic: str, workload: str, events: int, timeout: float) -> dict:
    """Run bench/peer.py on `topic` in a child process; its JSON result."""
    import json

    log = log_dir() / f"peer-{workload}.log"
    cmd = [sys.executable, "-m", "bench.peer", "--bootstrap", bootstrap, "--topic", topic]
    cmd += ["--workload", workload, "--events", str(events), "--group", f"{topic}.peer"]
    cmd += ["--state-dir", str(log_dir() / f"peer-{workload}-state")]
    with log.open("wb") as err:
        process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, start_new_session=True, cwd=_ROOT
        )
        _PROCESSES.append(process)
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise TimeoutError(f"peer {workload}: not done after {timeout:.0f}s") from None
    if process.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"peer {workload} exited with {process.returncode}:\n{tail}")
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


_ROOT = str(Path(__file__).resolve().parent.parent)


async def replay(settings: Settings) -> tuple[int, float]:
    """(facts applied, seconds): a worker's global reader (engine/app.py `Runtime`) started
    on the deployment of `settings`, until it has applied everything in its topics --
    what a worker does at start before it serves the global numbers."""
    from engine.app import create_app

    _app, runtime = create_app(settings, asyncio.get_running_loop())
    reader = runtime.reader
    with _worker_gc():
        begun = time.monotonic()
        await reader.start()
        task = asyncio.ensure_future(reader.run())
        try:
            await reader.sync()
            seconds = time.monotonic() - begun
        finally:
            await reader.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return sum(runtime.store.processed.values()), seconds


@contextlib.contextmanager
def _worker_gc() -> Iterator[None]:
    """The garbage collection a worker runs with (engine/worker.py `tune_gc`): what is
    alive before is frozen (here: the bench's workloads, as a worker's start-up
    objects), the thresholds are the worker's. With the default ones the fold in the
    bench process ran full collections over the growing store: 40k vs 47k facts/s."""
    from engine.worker import GC_THRESHOLDS

    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


async def group_members(settings: Settings, group: str) -> tuple[str, int]:
    """(state, members) of a consumer group (Tansu returns no member assignments)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        answer = await admin.describe_consumer_groups([group])
        _error, _group, state, _ptype, _protocol, members = answer[0].groups[0]
        return state, len(members)
    finally:
        await admin.close()


# -- workers -----------------------------------------------------------------
class Worker(WorkerProcess):
    """One `streamkpi run --bootstrap ...` child (engine/process.py), registered for
    `stop_all`, its log in `log_dir()`."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        group: str,
        name: str,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            bootstrap,
            prefix,
            group,
            log=log_dir() / f"{name}.log",
            command=streamkpi_command(),
            env=env,
            own_session=True,
        )
        _PROCESSES.append(self.process)

    @property
    def name(self) -> str:
        return self.log.stem

    @property
    def log_path(self) -> Path:
        return self.log

    def processed(self, suffix: str, metrics: dict[str, float] | None = None) -> float | None:
        metrics = metrics if metrics is not None else self.scrape()
        if metrics is None:
            return None
        key = f'saas_events_processed_total{{topic="{self.prefix}{suffix}"}}'
        return metrics.get(key, 0.0)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"worker {self.name} exited with {self.process.returncode}:\n{self.tail(25)}"
            )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.read(timeout=1.0) is not None:
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} served no /metrics in {timeout}s")


@dataclass
class Progress:
    """What `wait_processed` saw: first count > 0, target reached, scrape durations."""

    first: float
    end: float
    samples: list[tuple[float, float]]
    scrape_seconds: list[float]

    @property
    def seconds(self) -> float:
        return max(self.end - self.first, 1e-9)

    @property
    def last_idle(self) -> float:
        """The last poll before `first` that saw nothing processed (else `first`)."""
        return max((t for t, c in self.samples if t < self.first and c == 0), default=self.first)

    def done_at(self, target: int) -> float:
        """When `target` was reached: the poll that saw it, or earlier, at the pace of the
        polls before it, when those saw progress (polls back off as scrapes get slower,
        so the last interval can be long)."""
        seen = [(t, c) for t, c in self.samples if self.last_idle <= t < self.end]
        if len(seen) < 2 or seen[-1][1] <= 0:
            return self.end
        (t0, c0), (t1, c1) = seen[0], seen[-1]
        if c1 <= c0:
            return self.end
        return min(self.end, t1 + (target - c1) * (t1 - t0) / (c1 - c0))

    def pace_after(self, since: float, target: int) -> float:
        """Events/s from the first poll at or after `since` to when all were processed
        (`done_at`); NaN if nine tenths were done by then (too little left to measure)."""
        t0, c0 = next(((t, c) for t, c in self.samples if t >= since), (self.end, target))
        if c0 >= 0.9 * target:
            return float("nan")
        return (target - c0) / max(self.done_at(target) - t0, 1e-9)

    def rate(self, target: int) -> float:
        """`target` events from the last poll that saw none processed to when all were
        (`done_at`): a lower bound when a run goes from 0 to all between two polls."""
        return target / max(self.done_at(target) - self.last_idle, 1e-9)

    @property
    def mean_interval(self) -> float:
        inside = [t for t, _c in self.samples if self.first <= t <= self.end]
        return (inside[-1] - inside[0]) / max(1, len(inside) - 1)

    @property
    def scrape_share(self) -> float:
        """Share of the measured window the worker spent answering /metrics (upper bound)."""
        inside = [
            d
            for (t, _c), d in zip(self.samples, self.scrape_seconds, strict=True)
            if self.first < t <= self.end
        ]
        return sum(inside) / self.seconds


def wait_processed(
    workers: list[Worker],
    suffix: str,
    target: int,
    timeout: float,
    interval: float = 0.2,
    label: str = "",
    on_sample: Callable[[float, float], None] | None = None,
    budget: float = 0.1,
) -> Progress:
    """Poll /metrics every `interval` s until processed{suffix} reaches `target`.

    The count is the max over workers: every worker exports the global figure
    (docs/architecture.md). `interval` is the time between the starts of two
    polls. A scrape runs on the worker's event loop and costs it more as the
    usage state grows (0.3-0.5 s after a few 100k usage events), so with
    `budget` > 0 the poller backs off to `scrape time / budget` whenever that
    is longer: the measurement then takes at most that share of the worker's
    time (a literal 0.2 s poll would starve it; `budget=0` polls literally).
    """
    from tqdm import tqdm

    first: float | None = None
    samples: list[tuple[float, float]] = []
    durations: list[float] = []
    deadline = time.monotonic() + timeout
    with tqdm(total=target, unit="ev", desc=label or f"engine {suffix}", file=sys.stderr) as bar:
        while True:
            for worker in workers:
                worker.check_alive()
            begun = time.monotonic()
            counts = [w.processed(suffix) for w in workers]
            now = time.monotonic()
            durations.append(now - begun)
            count = max((c for c in counts if c is not None), default=0.0)
            samples.append((now, count))
            if on_sample is not None:
                on_sample(now, count)
            bar.update(int(count) - bar.n)
            if count > 0 and first is None:
                first = now
            if count >= target:
                assert first is not None
                return Progress(first, now, samples, durations)
            if now > deadline:
                raise TimeoutError(
                    f"{label or suffix}: {count:.0f}/{target} processed after {timeout:.0f}s\n"
                    f"{workers[0].tail()}"
                )
            took = time.monotonic() - begun
            wait = max(interval, took / budget) if budget > 0 else interval
            time.sleep(max(0.0, wait - took))
