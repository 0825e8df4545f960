"""The webhook's order of work with Kafka failing at each step (in process, a scripted sink).

A real broker cannot be stopped between the acknowledgement of the derived
events and the memory save on cue; a sink that fails on the step we name can.
Whatever step fails, the answer is 503, the memory is unchanged, and the
retry derives the same event ids (which the workers count once).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import test_utils

from engine.settings import Settings
from engine.stripe.memory import Memory
from engine.stripe.receiver import Receiver, ReceiverConfig
from engine.stripe.sink import Unavailable
from tests.stripe.receiver_kit import SECRET, T0, event, signed, subscription


class FakeProducer:
    def __init__(self, log: list[tuple[str, bytes | None, bytes | None]]) -> None:
        self.log = log

    async def send(self, topic: str, value: bytes | None, key: bytes | None = None) -> Any:
        self.log.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class ScriptedSink:
    """Records what would reach Kafka; fails the steps listed in `failures`, once each."""

    def __init__(self) -> None:
        self.produced: list[tuple[str, bytes | None, bytes | None]] = []
        self.saved: list[tuple[str, bytes | None, bytes | None]] = []
        self.failures: list[str] = []

    def _maybe_fail(self, step: str) -> None:
        if step in self.failures:
            self.failures.remove(step)
            raise Unavailable(step)

    async def send_all(self, records: list[tuple[str, bytes | None, bytes]]) -> None:
        if records:
            self.produced.extend(records)  # sent: Kafka may keep them even if the ack fails
            self._maybe_fail("events")

    async def call(self, action: Callable[[Any], Awaitable[Any]]) -> Any:
        result = await action(FakeProducer(self.saved))
        self._maybe_fail("save")
        return result

    async def close(self) -> None:
        return None


class NoFollower:
    async def catch_up(self) -> int:
        return 0

    async def stop(self) -> None:
        return None


@pytest.fixture
async def rig() -> AsyncIterator[tuple[test_utils.TestClient, Receiver, ScriptedSink]]:
    config = ReceiverConfig(webhook_secret=SECRET, collector_token="t")
    receiver = Receiver(Settings(bootstrap="127.0.0.1:9", prefix="p."), config)
    sink = ScriptedSink()
    receiver.sink = sink  # type: ignore[assignment]
    receiver.follower = NoFollower()  # type: ignore[assignment]
    receiver.memory = Memory()
    async with test_utils.TestClient(test_utils.TestServer(receiver.app())) as client:
        yield client, receiver, sink


async def deliver(client: test_utils.TestClient, body: bytes) -> tuple[int, Any]:
    response = await client.post("/stripe/webhook", data=body, headers=signed(body))
    return response.status, await response.json()


def ids(records: list[tuple[str, bytes | None, bytes | None]]) -> list[str]:
    return [orjson.loads(value)["event_id"] for _t, _k, value in records if value]


BODY = event("evt_1", "customer.subscription.created", T0, subscription("sub_1", "cus_1"))


@pytest.mark.parametrize("step", ["events", "save"])
async def test_a_failed_step_answers_503_and_the_retry_derives_the_same_ids(
    rig: tuple[test_utils.TestClient, Receiver, ScriptedSink], step: str
) -> None:
    client, receiver, sink = rig
    sink.failures = [step]
    status, answer = await deliver(client, BODY)
    assert status == 503 and "Kafka" in answer["error"]
    assert receiver.memory is not None and len(receiver.memory) == 0  # nothing committed
    assert ids(sink.produced) == ["stripe:evt_1:0"]
    status, answer = await deliver(client, BODY)  # Stripe's retry
    assert (status, answer["outcome"]) == (200, "applied")
    assert ids(sink.produced) == ["stripe:evt_1:0", "stripe:evt_1:0"]  # the same id: counted once
    assert receiver.memory.get("sub:sub_1") is not None
    status, answer = await deliver(client, BODY)  # and once more: now a duplicate, nothing sent
    assert (status, answer["outcome"]) == (200, "duplicate")
    assert len(sink.produced) == 2
    metrics = receiver.metrics
    assert metrics.value("saas_stripe_webhook_requests", "503") == 1
    assert metrics.value("saas_stripe_events", "customer.subscription.created", "applied") == 1


async def test_saved_memory_is_keyed_for_the_compacted_topic(
    rig: tuple[test_utils.TestClient, Receiver, ScriptedSink],
) -> None:
    client, _receiver, sink = rig
    assert (await deliver(client, BODY))[0] == 200
    assert [(topic, key) for topic, key, _v in sink.saved] == [("p.stripe-state", b"sub:sub_1")]
    assert [(topic, key) for topic, key, _v in sink.produced] == [("p.subscriptions", b"cus_1")]
