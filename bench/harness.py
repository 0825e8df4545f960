"""Processes and I/O of the benchmark: broker, `streamkpi run` workers, producing, scraping.

Every process started here is registered and stopped by `stop_all()` (the
runner calls it in a `finally`, on SIGTERM and at exit), so an error or a
Ctrl-C never leaves a worker or the broker behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.workloads import Message
from engine.broker import EmbeddedBroker, ensure_topics, free_port, stop_process
from engine.kafka import client_options
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
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        match = _SAMPLE.match(line)
        if match:
            with contextlib.suppress(ValueError):
                out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return out


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the benchmark dies, even by SIGKILL (Linux only)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def streamkpi_command() -> list[str]:
    script = Path(sys.executable).parent / "streamkpi"
    if script.exists():
        return [str(script)]
    found = shutil.which("streamkpi")
    return [found] if found else [sys.executable, "-m", "engine.cli"]


class Worker:
    """One `streamkpi run --bootstrap ...` subprocess of a deployment (prefix + group)."""

    def __init__(self, bootstrap: str, prefix: str, group: str, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self.prefix = prefix
        self.log_path = log_dir() / f"{name}.log"
        cmd = [
            *streamkpi_command(),
            "run",
            "--bootstrap",
            bootstrap,
            "--metrics-port",
            str(self.port),
            "--prefix",
            prefix,
            "--group",
            group,
        ]
        env = {
            **os.environ,
            "STREAMKPI_SESSION_TIMEOUT": "6",
            "PYTHONUNBUFFERED": "1",
        }
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        _PROCESSES.append(self.process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def scrape(self, timeout: float = 5.0) -> dict[str, float] | None:
        try:
            with urllib.request.urlopen(self.url, timeout=timeout) as response:
                return parse_metrics(response.read().decode())
        except OSError:
            return None

    def processed(self, suffix: str, metrics: dict[str, float] | None = None) -> float | None:
        metrics = metrics if metrics is not None else self.scrape()
        if metrics is None:
            return None
        key = f'saas_events_processed_total{{topic="{self.prefix}{suffix}"}}'
        return metrics.get(key, 0.0)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"worker {self.log_path.stem} exited with {self.process.returncode}:\n{self.tail()}"
            )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.scrape(timeout=1.0) is not None:
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.log_path.stem} served no /metrics in {timeout}s")

    def rss_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the worker process in KiB."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount = line.split(":", 1)
                values[name] = int(amount.split()[0])
        return values.get("VmRSS", 0), values.get("VmHWM", 0)

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        stop_process(self.process, 20)


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
