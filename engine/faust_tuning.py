"""Measured fixes to faust-streaming 0.15's consumer hot path (docs/performance.md).

All are idempotent class patches applied by `create_app`; none changes which
offsets Faust delivers, acknowledges or commits.

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
- `deliver_batches`: Faust turns every fetched record into a message, an
  event, a queue hand-off and a trip through the stream iterator and its
  sensors -- about 60 % of a single-event worker's time, several times the
  cost of decoding and applying the event. For the topics an app registers
  with `batch_topics`, the records a fetch returned for one partition reach
  Faust as *one* record whose value is a `RecordBatch` (the records, in
  offset order) and whose offset is the last one's. The agent gets one event
  per partition batch; acknowledging it acknowledges the whole batch: Faust
  notes the offsets between two consecutive messages as a gap, which it
  counts as acknowledged once a later offset is (the bookkeeping it has for
  compacted topics and transaction markers), so the committed offset moves
  past a batch only after the batch's event is acknowledged. Agents
  acknowledge in offset order, which that bookkeeping needs.
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


class RecordBatch(list[Any]):
    """The records one fetch returned for one partition (aiokafka `ConsumerRecord`s,
    offset order), delivered to Faust as one record with the last one's offset."""

    __slots__ = (
        "topic",
        "partition",
        "offset",
        "timestamp",
        "timestamp_type",
        "headers",
        "key",
        "checksum",
        "serialized_key_size",
        "serialized_value_size",
    )

    def __init__(self, records: list[Any]) -> None:
        super().__init__(records)
        last = records[-1]
        self.topic, self.partition, self.offset = last.topic, last.partition, last.offset
        self.timestamp, self.timestamp_type = last.timestamp, last.timestamp_type
        self.headers: tuple[Any, ...] = ()
        self.key = None
        self.checksum = None
        self.serialized_key_size = 0
        self.serialized_value_size = sum(r.serialized_value_size for r in records)

    @property
    def value(self) -> RecordBatch:
        return self


BATCHED = "_streamkpi_batched_topics"


def batch_topics(app: Any, topics: set[str]) -> None:
    """Deliver the records of `topics` to `app`'s agents a partition batch at a time."""
    setattr(app, BATCHED, frozenset(topics) | getattr(app, BATCHED, frozenset()))


def deliver_batches() -> None:
    """Patch `Consumer._wait_next_records` (see the module docstring)."""
    from faust.transport.consumer import Consumer

    if getattr(Consumer, "_streamkpi_original_wait_next", None) is not None:
        return
    original = Consumer._wait_next_records

    async def wait_next_records(self: Any, timeout: float) -> Any:
        records, active = await original(self, timeout)
        batched = getattr(self.app, BATCHED, None)
        if records and batched:
            records = {
                tp: [RecordBatch(rs)] if tp.topic in batched and rs else rs
                for tp, rs in records.items()
            }
        return records, active

    Consumer._streamkpi_original_wait_next = original  # type: ignore[attr-defined]
    Consumer._wait_next_records = wait_next_records  # type: ignore[method-assign]


def tune() -> None:
    """Apply every patch (idempotent)."""
    cap_fetch_wait()
    start_callbacks_eagerly()
    deliver_batches()
