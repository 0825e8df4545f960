"""The Faust app factory and the per-worker runtime (store, reader, publisher, /metrics).

`create_app(settings)` builds a Faust app with one thin agent per input topic
and a `Runtime` service that owns everything else. No import-time globals:
two apps can live in one process (the tests do that).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from mode import Service
from prometheus_client.registry import CollectorRegistry

from engine import faust_tuning, kafka, snapshots
from engine.collector import KpiCollector
from engine.http import MetricsServer
from engine.outbox import Outbox, unpack
from engine.reader import GlobalReader
from engine.router import Router
from engine.settings import Settings
from engine.targets import load_targets
from engine.usage import UsageOwner
from events import facts as wire
from events import schema
from events import types as t
from events.codec import decode
from tables.activity import UsageView
from tables.report import Sample, report
from tables.store import Store

log = logging.getLogger("streamkpi.app")


class Runtime(Service):
    """Everything a worker owns besides the Faust agents."""

    def __init__(self, settings: Settings, app: faust.App, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.app = app
        self.store = Store(settings.currency, settings.max_plans, settings.max_segments)
        self.view = UsageView(settings.max_features)
        self.targets = load_targets(settings.targets)
        topic = settings.topic
        self.reader = GlobalReader(
            kafka.client_options(settings),
            {
                topic(schema.FACTS): self._on_fact,
                topic(schema.BUSINESS): self._on_business,
                topic(schema.USAGE_STATE): self._on_usage_state,
            },
        )
        self.usage = UsageOwner(
            self.view, self.store, topic(schema.USAGE_STATE), topic(schema.FACTS)
        )
        self._origin: tuple[Store, tuple[str, bytes]] | None = None
        self.outbox = Outbox(topic(schema.FACTS), self._send_own_facts)
        self.router = Router(
            settings.prefix, self.store, self.reader, self.send, self.outbox, self.usage
        )
        self._cached: tuple[float, list[Sample]] | None = None
        self.registry = CollectorRegistry()
        KpiCollector(self.samples, self.registry)
        self.server = MetricsServer(self.registry, settings.metrics_bind, settings.metrics_port)

    def samples(self) -> list[Sample]:
        """The report, computed at most every `report_interval` s: a scrape must not
        starve the agents (sketch unions cost milliseconds each)."""
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] >= self.settings.report_interval:
            samples = report(self.store, self.view, self.settings.prefix)
            samples.extend(
                ("saas_kpi_target", (("kpi", kpi),), value) for kpi, value in self.targets.items()
            )
            samples.extend(self.reader.samples())
            self._cached = (now, samples)
        return self._cached[1]

    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> Any:
        return await self.app.producer.send(topic, key, value, None, None, None)

    def origin(self) -> tuple[str, bytes]:
        """The header that marks fact packs made by this runtime for its current store: a
        new process, or a store swapped in by a snapshot restore, gets a new one."""
        if self._origin is None or self._origin[0] is not self.store:
            self._origin = (self.store, (ORIGIN_HEADER, uuid.uuid4().hex.encode()))
        return self._origin[1]

    async def _send_own_facts(self, topic: str, key: bytes | None, value: bytes | None) -> Any:
        """The send of facts this store already holds: the outbox's packs (the router
        adds a fact after applying or counting its input) and the usage notes (noted
        in the store before they are sent, engine/usage.py). Tagged with `origin()`,
        so the reader skips them unread; anything sent here must keep that promise."""
        headers = [self.origin()]
        return await self.app.producer.send(topic, key, value, None, None, headers)

    # -- reader handlers (every worker, every partition) ---------------------
    def _on_fact(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.headers and self._is_own(record.headers):
            return  # read-your-writes: applied here before it was sent
        for body in unpack(record.value or b"{}"):
            self._apply_fact(body)

    def _is_own(self, headers: Sequence[tuple[str, bytes]]) -> bool:
        origin = self._origin
        return origin is not None and origin[0] is self.store and origin[1] in headers

    def _apply_fact(self, body: dict[str, Any]) -> None:
        store = self.store
        if store.knows_input(wire.source_of(body)):
            return  # this worker applied the input itself (read-your-writes)
        fact = wire.decode(body)
        if isinstance(fact, wire.Applied):  # nearly every fact
            store.apply(fact.event, fact.topic, fact.pinned, wire.partition_of(fact.source))
            if fact.source:
                store.remember_input(fact.source)
        elif isinstance(fact, wire.Rejected):
            store.count_rejection(fact.key, fact.reason)
        elif isinstance(fact, wire.Duplicate):
            store.count_duplicate(fact.key, fact.topic)
        else:
            for customer, day in fact.activity:
                store.note_usage(customer, day)

    def _on_business(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.value and b"fx.rate" in record.value:
            for index, item in enumerate(decode(record.value, schema.BUSINESS)):
                if not isinstance(item, t.FxRate):
                    continue
                if self.store.apply(item, schema.BUSINESS).status == "duplicate":
                    key = wire.input_key(record.topic, record.partition, record.offset, index)
                    self.store.count_duplicate(key, schema.BUSINESS)

    def _on_usage_state(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key:
            self.view.ingest(record.key.decode(), record.value)

    # -- lifecycle ------------------------------------------------------------
    async def on_start(self) -> None:
        await self.reader.start()
        await snapshots.restore(self)  # before the reader folds anything
        await self.server.start()
        self.add_future(self.reader.run())
        self.add_future(snapshots.Writer(self).run_forever())
        self.add_future(self._publish_forever())
        self.add_future(self._flush_forever())
        log.info("metrics at %s", self.server.url)

    async def on_stop(self) -> None:
        await self.server.stop()
        await self.reader.stop()

    async def _publish_forever(self) -> None:
        while not self.should_stop:
            await asyncio.sleep(self.settings.publish_interval)
            await self.usage.publish(self.send, self._send_own_facts)

    async def _flush_forever(self) -> None:
        while not self.should_stop:
            await asyncio.sleep(self.settings.fact_interval)
            await self.outbox.flush()

    async def on_revoked(self, *_args: Any, **_kwargs: Any) -> None:
        self.router.forget_assignment()
        await self.outbox.revoke()
        await self.usage.forget()
        await self.app.producer.flush()  # what we sent lands before the partitions move


def _records(event: faust.EventT) -> Sequence[Any]:
    """The input messages behind one event: a partition batch (engine/faust_tuning.py
    `deliver_batches`), or the one message of an app that does not batch."""
    value = event.value
    return value if isinstance(value, faust_tuning.RecordBatch) else (event.message,)


def _size(records: Sequence[Any]) -> int:
    if isinstance(records, faust_tuning.RecordBatch):
        return records.serialized_value_size
    return sum(len(record.value or b"") for record in records)


def _agent(runtime: Runtime, suffix: str) -> Callable[[faust.StreamT], Any]:
    """One event per partition batch: applied in order, acknowledged (the whole
    batch) after the outbox flush that carries its facts; a batch cut short by
    a revocation is not acknowledged (the next owner reads it again)."""

    async def process(stream: faust.StreamT) -> None:
        unacked = stream.noack()
        async for event in unacked.events():
            if await runtime.router.handle_batch(suffix, _records(event)):
                await runtime.outbox.settle(partial(unacked.ack, event))

    return process


def _usage_agent(runtime: Runtime) -> Callable[[faust.StreamT], Any]:
    """Usage batches are acknowledged once the snapshot covering them is sent. The agent
    publishes itself when `MAX_UNPUBLISHED` input bytes wait: a slow publish (a
    producer round trip per full batch) must hold the input back, not let it pile
    up in memory; below that, the publish timer does it (a publish costs the same
    for few events as for many)."""

    async def process(stream: faust.StreamT) -> None:
        unacked = stream.noack()
        async for event in unacked.events():
            records = _records(event)
            if await runtime.router.handle_batch(schema.USAGE, records):
                runtime.usage.defer_ack(partial(unacked.ack, event), _size(records))
            if runtime.usage.pending_bytes >= MAX_UNPUBLISHED:
                await runtime.usage.publish(runtime.send, runtime._send_own_facts)

    return process


# The Kafka header naming the runtime (and store) that made a fact pack.
ORIGIN_HEADER = "streamkpi-origin"
# Partition batches an input topic's stream may hold (Faust's queue counts
# events, here batches: each at most one fetch of one partition, 1 MiB); a
# smaller STREAMKPI_STREAM_BUFFER lowers it.
BATCH_QUEUE = 8
# Usage input bytes applied but not yet published before the usage agent publishes
# itself (about 4 partition batches).
MAX_UNPUBLISHED = 4 << 20


def create_app(
    settings: Settings, loop: asyncio.AbstractEventLoop | None = None
) -> tuple[faust.App, Runtime]:
    """A Faust app with thin agents on the four input topics, plus its runtime; the
    agents receive their messages a partition batch at a time."""
    faust_tuning.tune()
    app = faust.App(settings.group, loop=loop, **kafka.faust_options(settings))
    runtime = Runtime(settings, app, loop=loop)
    faust_tuning.batch_topics(app, {settings.topic(s) for s in schema.INPUT_TOPICS})
    for suffix in schema.INPUT_TOPICS:
        topic = app.topic(
            settings.topic(suffix),
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
        )
        # faust 0.15's App.topic takes `maxsize` but does not pass it on: the queue
        # held `stream_buffer_maxsize` (16,384) batches, i.e. a whole backlog.
        topic.maxsize = min(BATCH_QUEUE, settings.stream_buffer)
        process = _usage_agent(runtime) if suffix == schema.USAGE else _agent(runtime, suffix)
        app.agent(topic, name=f"streamkpi.{suffix}")(process)
    app.on_partitions_revoked.connect(runtime.on_revoked)
    return app, runtime
