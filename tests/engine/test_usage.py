"""The worker's input streams and the usage owner: what bounds a worker's memory."""

from __future__ import annotations

import asyncio

from engine.app import BATCH_QUEUE, create_app
from engine.settings import Settings
from engine.usage import UsageOwner
from events import schema
from tables.activity import UsageView
from tables.store import Store
from tests.tables.helpers import ev


def _input_queues(settings: Settings, loop: asyncio.AbstractEventLoop) -> dict[str, int]:
    app, _runtime = create_app(settings, loop)
    inputs = {settings.topic(s) for s in schema.INPUT_TOPICS}
    queues = {}
    for agent in app.agents.values():
        name = agent.channel.get_topic_name()
        if name in inputs:
            # the queue the agent's stream reads (Faust builds it on the iterator clone)
            queues[name] = agent.channel.clone(is_iterator=True).queue.maxsize
    assert set(queues) == inputs
    return queues


def test_an_input_stream_holds_at_most_a_few_partition_batches(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # faust 0.15's App.topic drops `maxsize`: the queue then held 16,384 batches and a
    # worker started on a backlog read all of it into memory (10 M users: 1.9 GiB)
    settings = Settings(bootstrap="127.0.0.1:1", metrics_port=0)
    assert set(_input_queues(settings, loop).values()) == {BATCH_QUEUE}


def test_a_smaller_stream_buffer_lowers_the_queue(loop: asyncio.AbstractEventLoop) -> None:
    settings = Settings(bootstrap="127.0.0.1:1", metrics_port=0, stream_buffer=3)
    assert set(_input_queues(settings, loop).values()) == {3}


def test_usage_notes_go_through_their_own_send_and_are_noted_before() -> None:
    # the runtime tags notes as its own (its reader skips them): the store must already
    # hold them when they are sent
    store = Store()
    owner = UsageOwner(UsageView(), store, "state", "facts")
    snapshots: list[str] = []
    notes: list[dict[str, int]] = []

    async def send(topic: str, key: bytes | None, value: bytes | None) -> None:
        snapshots.append(topic)

    async def send_notes(topic: str, key: bytes | None, value: bytes | None) -> None:
        assert topic == "facts"
        notes.append(dict(store.recency.last_day))

    event = ev("usage", 3, user_id="u", customer_id="c1", feature="f")
    owner.apply(0, 0, [event])
    asyncio.run(owner.publish(send, send_notes))
    assert notes == [{"c1": event.day}]
    assert snapshots and set(snapshots) == {"state"}
    owner.apply(0, 1, [ev("usage", 4, user_id="u", customer_id="c1", feature="f")])
    asyncio.run(owner.publish(send))  # without a second send, notes go through `send`
    assert "facts" in snapshots
