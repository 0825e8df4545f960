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
