"""Every compression codec, and batches that cannot be decoded, through the real broker (issue 12).

- The embedded broker (Tansu) stores gzip, snappy, lz4 and zstd batches from
  aiokafka and from librdkafka (confluent-kafka) as they were sent: a consumer
  receives them compressed with that codec.
- A worker consumes a history with bad lines and duplicates produced to every
  input topic (usage batches included) with each codec in turn, from each
  client, stays alive, and every metric equals the reference.
- Crafted record batches the broker accepts but no client can decode (a bad
  CRC, corrupt gzip/snappy/lz4/zstd payloads, one at offset 0 of a partition)
  are each counted once as `undecodable_batch`, dead-lettered with their
  offsets, skipped; everything else stays exact, also across a kill -9 and a
  restart of the worker that has to fetch them again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from engine.broker import EmbeddedBroker, ensure_topics
from engine.ingest import fit, route
from engine.kafka import client_options
from engine.settings import Settings
from events import schema
from tests import reference
from tests.integration.conftest import settle
from tests.integration.faults import (
    fetch_batches,
    kill9,
    produce_raw,
    record_batch,
    spec_diff,
    with_bad_crc,
    with_codec,
)
from tests.integration.test_pipeline import _read_all, history

CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CLIENTS = ("aiokafka", "librdkafka")
Producer = Callable[[Settings, str, Iterable[bytes]], None]


def produce_aiokafka(settings: Settings, codec: str, lines: Iterable[bytes]) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(
            compression_type=codec, linger_ms=20, **client_options(settings)
        )
        await producer.start()
        try:
            for line in lines:
                suffix, key = route(line)
                await producer.send(settings.topic(suffix), fit(line), key=key)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(run())


def produce_librdkafka(settings: Settings, codec: str, lines: Iterable[bytes]) -> None:
    """confluent-kafka as it comes: no `api.version.request` or
    `broker.version.fallback` tweak is needed with Tansu. murmur2 is the Java
    (and aiokafka) partitioner: one key lands in one partition whoever sends it."""
    import confluent_kafka

    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": settings.bootstrap,
            "compression.type": codec,
            "partitioner": "murmur2_random",
            "linger.ms": 20,
        }
    )
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for line in lines:
        suffix, key = route(line)
        producer.produce(settings.topic(suffix), fit(line), key=key, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(60) == 0, "librdkafka could not deliver everything in 60 s"
    assert failures == [], failures[:5]


PRODUCERS: dict[str, Producer] = {"aiokafka": produce_aiokafka, "librdkafka": produce_librdkafka}


def codecs_stored(bootstrap: str, topic: str, partitions: int) -> set[int]:
    return {
        codec
        for partition in range(partitions)
        for _, codec, _ in asyncio.run(fetch_batches(bootstrap, topic, partition))
    }


@pytest.mark.integration
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("codec", sorted(CODECS))
def test_embedded_broker_keeps_each_codec(broker: EmbeddedBroker, client: str, codec: str) -> None:
    settings = Settings(bootstrap=broker.bootstrap, prefix=f"codec-{client}-{codec}.")
    asyncio.run(ensure_topics(settings, client_options(settings)))
    lines = [
        orjson.dumps({"event_id": f"v{i}", "type": "visit", "ts": "2026-01-01T00:00:00Z"})
        for i in range(50)
    ]
    PRODUCERS[client](settings, codec, lines)
    topic = settings.topic(schema.USAGE)
    batches = [
        batch
        for partition in range(settings.partitions)
        for batch in asyncio.run(fetch_batches(broker.bootstrap, topic, partition))
    ]
    assert sum(count for _, _, count in batches) == len(lines)
    seen = {codec_id for _, codec_id, _ in batches}
    if client == "librdkafka":  # it sends a batch uncompressed when that is no larger
        assert CODECS[codec] in seen and seen <= {0, CODECS[codec]}, seen
    else:
        assert seen == {CODECS[codec]}


@pytest.mark.integration
@pytest.mark.parametrize("client", CLIENTS)
def test_every_codec_on_every_topic_equals_the_reference(
    workers, broker: EmbeddedBroker, tmp_path: Path, client: str
) -> None:
    path, lines = history(tmp_path, customers=30, days=40)
    assert any(line.startswith(b"[{") for line in lines), "no batched usage in the history"
    expected = reference.compute(lines, prefix=workers.prefix)
    settings = Settings(bootstrap=broker.bootstrap, prefix=workers.prefix)
    asyncio.run(ensure_topics(settings, client_options(settings)))
    worker = workers()
    # each codec in turn, one slice after the other, so that per-key order holds
    cut = [len(lines) * i // len(CODECS) for i in range(len(CODECS) + 1)]
    for i, codec in enumerate(sorted(CODECS)):
        PRODUCERS[client](settings, codec, lines[cut[i] : cut[i + 1]])
    actual = settle(worker, expected)
    assert spec_diff(expected, actual) == []
    stored = {
        suffix: codecs_stored(broker.bootstrap, settings.topic(suffix), settings.partitions)
        for suffix in schema.INPUT_TOPICS
    }
    if client == "aiokafka":
        assert all(set(CODECS.values()) <= codecs for codecs in stored.values()), stored
    else:  # librdkafka sends a batch uncompressed (0) when compression would not shrink it
        assert all(codecs - {0} for codecs in stored.values()), stored
        assert set(CODECS.values()) <= set().union(*stored.values()), stored


UNDECODABLE = 'saas_events_rejected_total{reason="undecodable_batch"}'
BAD_KINDS = {
    "bad CRC": with_bad_crc,
    "gzip garbage": lambda batch: with_codec(batch, 1),
    "snappy garbage": lambda batch: with_codec(batch, 2),
    "lz4 garbage": lambda batch: with_codec(batch, 3),
    "zstd garbage": lambda batch: with_codec(batch, 4),
}


def bad_batch(kind: str, n: int) -> bytearray:
    """A batch of `n` events that would be valid, made undecodable by `kind`."""
    values = [
        orjson.dumps(
            {"event_id": f"lost-{kind}-{i}", "type": "visit", "ts": "2026-01-01T00:00:00Z"}
        )
        for i in range(n)
    ]
    return BAD_KINDS[kind](record_batch(values))


@pytest.mark.integration
def test_undecodable_batches_are_counted_dead_lettered_and_skipped(
    workers, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    path, lines = history(tmp_path, customers=30, days=40)
    settings = Settings(bootstrap=broker.bootstrap, prefix=workers.prefix)
    asyncio.run(ensure_topics(settings, client_options(settings)))
    bootstrap = broker.bootstrap

    # the broker refuses an unknown codec id itself: it never reaches a consumer
    unknown = with_codec(record_batch([b"{}"]), 5)
    refused, _ = asyncio.run(produce_raw(bootstrap, settings.topic(schema.BUSINESS), 0, unknown))
    assert refused != 0

    stored: list[tuple[str, int, int, int]] = []  # topic, partition, first, last offset

    def inject(suffix: str, partition: int, kind: str, n: int) -> None:
        topic = settings.topic(suffix)
        error, base = asyncio.run(produce_raw(bootstrap, topic, partition, bad_batch(kind, n)))
        assert error == 0, f"the broker refused the crafted batch ({kind}): error {error}"
        stored.append((topic, partition, base, base + n - 1))

    worker = workers()
    inject(schema.SUBSCRIPTIONS, 3, "bad CRC", 3)  # before anything else: offsets 0..2
    half = len(lines) // 2
    produce_aiokafka(settings, "lz4", lines[:half])
    inject(schema.PAYMENTS, 1, "gzip garbage", 4)
    inject(schema.USAGE, 2, "snappy garbage", 2)
    inject(schema.BUSINESS, 0, "lz4 garbage", 1)
    inject(schema.SUBSCRIPTIONS, 0, "zstd garbage", 5)
    produce_aiokafka(settings, "zstd", lines[half:])
    assert stored[0][2] == 0, stored[0]

    expected = reference.compute(lines, prefix=workers.prefix)
    expected[UNDECODABLE] = float(len(stored))
    actual = settle(worker, expected)
    assert spec_diff(expected, actual) == []

    letters = [
        orjson.loads(v) for v in asyncio.run(_read_all(bootstrap, settings.topic("rejected")))
    ]
    named = sorted(
        (
            letter["topic"],
            *map(int, re.findall(r"\[(\d+)\] offsets (\d+)\.\.(\d+)", letter["detail"])[0]),
        )
        for letter in letters
        if letter["reason"] == "undecodable_batch"
    )
    assert named == sorted(stored)

    # a restart fetches the uncommitted rest again: still counted once, still alive
    kill9(worker)
    again = workers()
    actual = settle(again, expected)
    assert spec_diff(expected, actual) == []
    assert "undecodable record batch skipped" in worker.log.read_text()
