"""The eager start of Faust's per-message callback: same results, same races, fewer tasks."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.consumer import Consumer
from mode.utils.locks import Event

from engine import faust_tuning


async def _double_after(future: asyncio.Future[int], log: list[str]) -> int:
    try:
        value = await future
        return value * 2
    finally:
        log.append("finally")


async def _immediate(value: int) -> int:
    return value


async def test_a_coroutine_that_never_suspends_finishes_in_place() -> None:
    tasks_before = len(asyncio.all_tasks())
    finished, result = faust_tuning.start_eagerly(_immediate(7))
    assert (finished, result) == (True, 7)
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_suspended_coroutine_continues_with_what_it_awaited() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    log: list[str] = []
    finished, rest = faust_tuning.start_eagerly(_double_after(future, log))
    assert not finished
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    assert not task.done()
    future.set_result(21)
    assert await task == 42
    assert log == ["finally"]


async def test_an_exception_after_the_suspension_propagates() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    finished, rest = faust_tuning.start_eagerly(_double_after(future, []))
    task = asyncio.ensure_future(rest)
    future.set_exception(ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        await task


async def test_an_exception_before_any_suspension_propagates_at_once() -> None:
    async def broken() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        faust_tuning.start_eagerly(broken())


async def test_cancelling_the_rest_cancels_the_coroutine() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    log: list[str] = []
    _finished, rest = faust_tuning.start_eagerly(_double_after(future, log))
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["finally"]
    assert future.cancelled()  # the cancellation reached the awaited future


def _consumer() -> Any:
    faust_tuning.start_callbacks_eagerly()
    loop = asyncio.get_running_loop()
    return SimpleNamespace(_stopped=Event(), _crashed=Event(), loop=loop)


async def test_patched_wait_first_returns_the_callback_and_closes_the_flow_wait() -> None:
    consumer = _consumer()
    flow = Event()
    flow_wait = flow.wait()
    callback = _immediate(5)
    result = await Consumer.wait_first(consumer, callback, flow_wait)
    assert (result.done, result.results, result.stopped) == ([callback], [5], False)
    assert flow_wait.cr_frame is None  # closed, never left pending


async def test_patched_wait_first_still_races_a_suspended_callback_against_the_flow() -> None:
    consumer = _consumer()
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    log: list[str] = []
    flow = Event()
    waiting = asyncio.ensure_future(
        Consumer.wait_first(consumer, _double_after(future, log), flow.wait())
    )
    await asyncio.sleep(0.01)
    assert not waiting.done()
    flow.set()  # a rebalance suspends the flow: Faust abandons the callback
    result = await waiting
    assert result.results == [True]  # only the flow wait finished
    await asyncio.sleep(0)
    assert log == ["finally"]


async def test_patched_wait_first_returns_a_callback_that_finishes_later() -> None:
    consumer = _consumer()
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(
        Consumer.wait_first(consumer, _double_after(future, []), Event().wait())
    )
    await asyncio.sleep(0.01)
    future.set_result(4)
    result = await waiting
    assert result.results == [8]
    assert result.stopped is False


async def test_the_patches_are_idempotent() -> None:
    faust_tuning.tune()
    patched = Consumer.wait_first
    faust_tuning.tune()
    assert Consumer.wait_first is patched


# -- partition batches (deliver_batches) ------------------------------------------
def _record(topic: str, partition: int, offset: int) -> SimpleNamespace:
    return SimpleNamespace(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=1000 + offset,
        timestamp_type=0,
        key=b"k",
        value=b"v%d" % offset,
        serialized_value_size=2,
    )


async def test_a_fetch_of_a_batched_topic_reaches_faust_as_one_record_per_partition() -> None:
    from faust.types import TP

    faust_tuning.deliver_batches()
    batched, plain = TP("in", 0), TP("other", 0)
    fetched = {
        batched: [_record("in", 0, o) for o in (5, 6, 7)],
        plain: [_record("other", 0, o) for o in (1, 2)],
    }

    async def getmany(active_partitions: Any, timeout: float) -> Any:
        return fetched

    consumer = SimpleNamespace(
        flow_active=True,
        not_waiting_next_records=asyncio.Event(),
        app=SimpleNamespace(client_only=False),
        _get_active_partitions=lambda: {batched, plain},
        _getmany=getmany,
    )
    faust_tuning.batch_topics(consumer.app, {"in"})
    records, _active = await Consumer._wait_next_records(consumer, 1.0)  # type: ignore[arg-type]
    [batch] = records[batched]
    assert isinstance(batch, faust_tuning.RecordBatch)
    assert [r.offset for r in batch] == [5, 6, 7] and batch.value is batch
    assert (batch.topic, batch.partition, batch.offset, batch.timestamp) == ("in", 0, 7, 1007)
    assert records[plain] == fetched[plain]  # a topic not registered: one record each


def _bookkeeping(committed: int | None) -> SimpleNamespace:
    from collections import defaultdict

    from intervaltree import IntervalTree

    return SimpleNamespace(
        _committed_offset=defaultdict(lambda: committed),
        _gap=defaultdict(IntervalTree),
        _acked=defaultdict(list),
        _acked_index=defaultdict(set),
    )


async def _deliver(consumer: Any, tp: Any, read: int | None, last: int) -> int:
    """What Faust's drain loop does with a record at `last` after one at `read`."""
    if last - (read or 0) > 1 and read:
        await Consumer._add_gap(consumer, tp, read + 1, last)
    return last


def _ack(consumer: Any, tp: Any, offset: int) -> None:
    consumer._acked[tp].append(offset)
    consumer._acked_index[tp].add(offset)


def _commit(consumer: Any, tp: Any) -> int | None:
    """Faust's commit rounds until the offset stops moving; the committed offset."""
    while True:
        offset = Consumer._new_offset(consumer, tp)  # type: ignore[arg-type]
        if offset is None or offset == consumer._committed_offset[tp]:
            return consumer._committed_offset[tp]  # type: ignore[no-any-return]
        consumer._committed_offset[tp] = offset


@pytest.mark.parametrize("committed", [None, 1, 100])
async def test_faust_commits_a_partition_batch_only_after_its_event_is_acknowledged(
    committed: int | None,
) -> None:
    """The contract `deliver_batches` relies on, checked against the installed Faust:
    a batch delivered as its last offset moves the committed offset past the whole
    batch once acknowledged, and never before."""
    tp = "tp"
    consumer = _bookkeeping(committed)
    start = committed or 0
    read = await _deliver(consumer, tp, committed, start + 99)  # batch start..start+99
    _ack(consumer, tp, read)
    assert _commit(consumer, tp) == start + 100
    read = await _deliver(consumer, tp, read, start + 149)  # delivered, not acknowledged
    assert _commit(consumer, tp) == start + 100
    waiting = await _deliver(consumer, tp, read, start + 150)  # a batch of one, not acked
    _ack(consumer, tp, read)
    assert _commit(consumer, tp) == start + 150
    _ack(consumer, tp, waiting)
    assert _commit(consumer, tp) == start + 151
