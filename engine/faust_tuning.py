"""Two measured fixes to faust-streaming 0.15's consumer hot path (docs/performance.md).

Both are idempotent class patches applied by `create_app`; neither changes
what Faust delivers, acknowledges or commits.

- `cap_fetch_wait`: Faust hard-codes `fetch_max_wait_ms=1500` and Tansu holds
  a waiting fetch for the whole time, so every quiet partition added up to
  1.5 s of latency and workers idled under backlog.
- `start_callbacks_eagerly`: for every fetched message Faust's drain loop runs
  `wait_first(on_message(message), suspend_flow.wait())`, which wraps four
  coroutines in four tasks and an `asyncio.wait` -- about a quarter of a plain
  agent's time here. `on_message` almost always finishes without suspending
  (it only waits on flow control during a rebalance or on a full stream
  queue), so the patched `wait_first` first runs the callback up to its first
  suspension in place; only a callback that really suspends falls back to
  Faust's race, continuing from where it stopped. A task would have run the
  same first step on its first turn, so Faust sees the same behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

FETCH_MAX_WAIT_MS = 50


def cap_fetch_wait(wait_ms: int = FETCH_MAX_WAIT_MS) -> None:
    """Cap how long a fetch of Faust's consumer may wait on the broker."""
    from faust.transport.drivers import aiokafka as driver

    thread = driver.AIOKafkaConsumerThread
    if getattr(thread, "_streamkpi_fetch_wait", None) == wait_ms:
        return
    create = getattr(thread, "_streamkpi_original_create", thread._create_worker_consumer)

    def create_worker_consumer(self: Any, *args: Any, **kwargs: Any) -> Any:
        consumer = create(self, *args, **kwargs)
        consumer._fetch_max_wait_ms = wait_ms
        return consumer

    thread._streamkpi_original_create = create  # type: ignore[attr-defined]
    thread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]
    thread._streamkpi_fetch_wait = wait_ms  # type: ignore[attr-defined]


class _Continue:
    """Await the rest of a coroutine that was already run up to `pending`, its first
    suspension: yields what it yields, forwards what the task sends or throws."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self.coro, self.pending
        while True:
            sent, error = None, None
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - cancellation goes to the coroutine
                error = exc
            try:
                pending = coro.send(sent) if error is None else coro.throw(error)
            except StopIteration as stop:
                return stop.value


async def _resume(coro: Coroutine[Any, Any, Any], pending: Any) -> Any:
    return await _Continue(coro, pending)


def start_eagerly(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run `coro` up to its first suspension: (True, result) if it finished,
    else (False, an awaitable for the rest). Exceptions propagate."""
    try:
        pending = coro.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, _resume(coro, pending)


def _close(awaitables: tuple[Any, ...]) -> None:
    for awaitable in awaitables:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()  # never started: no "was never awaited" warning


def start_callbacks_eagerly() -> None:
    """Patch `faust.transport.consumer.Consumer.wait_first` (see the module docstring)."""
    from faust.transport.consumer import Consumer
    from mode.services import WaitResults

    if getattr(Consumer, "_streamkpi_original_wait_first", None) is not None:
        return
    original = Consumer.wait_first

    async def wait_first(self: Any, *coros: Any, timeout: Any = None) -> WaitResults:
        first = coros[0] if coros else None
        if not asyncio.iscoroutine(first) or self._stopped.is_set() or self._crashed.is_set():
            return await original(self, *coros, timeout=timeout)
        try:
            finished, outcome = start_eagerly(first)
        except BaseException:
            _close(coros[1:])
            raise
        if finished:
            _close(coros[1:])
            return WaitResults([first], [outcome], False)
        return await original(self, outcome, *coros[1:], timeout=timeout)

    Consumer._streamkpi_original_wait_first = original  # type: ignore[attr-defined]
    Consumer.wait_first = wait_first  # type: ignore[method-assign]


def tune() -> None:
    """Apply both patches (idempotent)."""
    cap_fetch_wait()
    start_callbacks_eagerly()
