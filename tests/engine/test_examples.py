"""The producer examples of docs/examples/ run as a user runs them, against the embedded broker.

Each example must put every event on its type's topic with its key, and the
engine must accept what arrives (decode -> events, no rejection). The curl
example goes through the HTTP collector of `streamkpi stripe webhook`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.broker import EmbeddedBroker, ensure_topics
from engine.kafka import client_options
from engine.settings import Settings
from events import schema
from events import types as t
from events.codec import decode

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
EVENTS = [orjson.loads(line) for line in (EXAMPLES / "events.jsonl").read_bytes().splitlines()]
_ids = itertools.count()

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


def _deployment(broker: EmbeddedBroker) -> Settings:
    settings = Settings(bootstrap=broker.bootstrap, prefix=f"ex{next(_ids)}-{os.getpid()}.")
    asyncio.run(ensure_topics(settings, client_options(settings)))
    return settings


async def _read(settings: Settings) -> list[tuple[str, bytes | None, bytes]]:
    """Every message of the four input topics: (topic suffix, key, value)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: list[tuple[str, bytes | None, bytes]] = []
    try:
        for suffix in schema.INPUT_TOPICS:
            topic = settings.topic(suffix)
            parts = [TopicPartition(topic, p) for p in range(settings.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            for tp in parts:
                while await consumer.position(tp) < ends[tp]:
                    batch = await consumer.getmany(tp, timeout_ms=2000)
                    out += [(suffix, r.key, r.value or b"") for r in batch.get(tp, [])]
    finally:
        await consumer.stop()
    return out


def _expected_key(event: dict[str, object]) -> bytes:
    if schema.SPECS[str(event["type"])].topic == schema.USAGE:
        return str(event.get("user_id") or event["visitor_id"]).encode()
    return str(event.get("customer_id") or event["event_id"]).encode()


def _assert_routed_and_accepted(settings: Settings, events: list[dict[str, object]]) -> None:
    messages = asyncio.run(_read(settings))
    by_id = {}
    for suffix, key, value in messages:
        [item] = decode(value, suffix)
        assert isinstance(item, t.Event), (suffix, item)
        by_id[item.event_id] = (suffix, key)
    assert len(messages) == len(events)
    for event in events:
        want = (schema.SPECS[str(event["type"])].topic, _expected_key(event))
        assert by_id[event["event_id"]] == want, event


@pytest.mark.parametrize("example", ["produce_aiokafka.py", "produce_confluent.py"])
def test_python_example_routes_every_event(broker: EmbeddedBroker, example: str) -> None:
    settings = _deployment(broker)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / example), broker.bootstrap, settings.prefix],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == len(EVENTS)
    _assert_routed_and_accepted(settings, EVENTS)


def test_curl_example_through_the_http_collector(broker: EmbeddedBroker, tmp_path: Path) -> None:
    from tests.stripe.receiver_kit import TOKEN, ReceiverProcess

    settings = _deployment(broker)
    receiver = ReceiverProcess(broker.bootstrap, settings.prefix, tmp_path / "receiver.log")
    receiver.start()
    try:
        done = subprocess.run(
            ["sh", str(EXAMPLES / "collector_curl.sh"), receiver.url + "/events"],
            capture_output=True,
            text=True,
            env={**os.environ, "STREAMKPI_COLLECTOR_TOKEN": TOKEN},
            timeout=300,
        )
    finally:
        receiver.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    answer = orjson.loads(done.stdout)
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    assert [r["outcome"] for r in answer["results"]][:2] == ["accepted", "accepted"]
    assert "invalid_value" in orjson.dumps(answer["results"][2]).decode()  # CSAT score 9 > 5
    accepted = [
        {"event_id": "signup-u42", "type": "signup", "customer_id": None},
        {"event_id": "use-u42-1", "type": "usage", "user_id": "u42"},
    ]
    _assert_routed_and_accepted(settings, accepted)
