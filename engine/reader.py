"""The global reader: every worker folds every fact (and every fx.rate) into its store.

A plain aiokafka consumer without a group, assigned all partitions of the facts
topic, the business topic (only `fx.rate` is taken from it) and the usage-state
topic, read from the beginning. `sync()` waits until everything that was in
those topics when it was called has been applied — the barrier a worker passes
before it processes a newly assigned partition or converts a foreign currency.

Tansu answers ListOffsets with (base offset of the last batch + 1), so the
barrier also waits for the high watermark seen in fetch responses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ConsumerStoppedError
from aiokafka.structs import ConsumerRecord

log = logging.getLogger("streamkpi.reader")
Handler = Callable[[ConsumerRecord[bytes, bytes]], None]


class GlobalReader:
    def __init__(self, client_options: dict[str, Any], handlers: dict[str, Handler]) -> None:
        self._options = client_options
        self._handlers = handlers
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._tick = asyncio.Event()
        self._started = asyncio.Event()
        self._last_sync = -1.0  # when the last completed sync began (monotonic)
        self.errors = 0
        self.applied = 0

    def samples(self) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        """Records folded and records that failed (a failed fact is visible on /metrics,
        not only in the log). Named streamkpi_*: the engine's own health, not a KPI."""
        name = "streamkpi_reader_records_total"
        return [
            (name, (("outcome", "applied"),), float(self.applied)),
            (name, (("outcome", "error"),), float(self.errors)),
        ]

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 << 20,
            fetch_max_wait_ms=50,
            **self._options,
        )
        await consumer.start()
        tps = []
        for topic in self._handlers:
            partitions = await self._partitions(consumer, topic)
            tps.extend(TopicPartition(topic, p) for p in sorted(partitions))
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._positions = dict.fromkeys(tps, 0)
        self._consumer = consumer
        self._started.set()

    @property
    def options(self) -> dict[str, Any]:
        """The Kafka client options this reader connects with."""
        return self._options

    def positions(self) -> dict[TopicPartition, int]:
        """Per partition, the next offset to apply (everything before it is applied)."""
        return dict(self._positions)

    def resume_from(self, positions: dict[TopicPartition, int]) -> None:
        """Start these partitions at `positions` instead of the beginning: a restored
        store snapshot already holds what is before them (engine/snapshots.py)."""
        assert self._consumer is not None
        for tp, offset in positions.items():
            self._consumer.seek(tp, offset)
            self._positions[tp] = offset

    @staticmethod
    async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
        for _ in range(100):
            partitions = consumer.partitions_for_topic(topic)
            if partitions:
                return set(partitions)
            await consumer._client.force_metadata_update()  # noqa: SLF001
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {topic} has no partitions (was it created?)")

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def run(self) -> None:
        await self._started.wait()
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=50, max_records=10_000)
            except ConsumerStoppedError:
                return  # shutting down
            for tp, records in batches.items():
                handler = self._handlers[tp.topic]
                for record in records:
                    self._handle(handler, record)
                self._positions[tp] = records[-1].offset + 1
            self._tick.set()
            self._tick = asyncio.Event()

    def _handle(self, handler: Handler, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            handler(record)
            self.applied += 1
        except Exception:  # a bad fact must never stop the fold
            self.errors += 1
            log.exception(
                "could not apply %s[%d]@%d", record.topic, record.partition, record.offset
            )

    def _caught_up(self, ends: dict[TopicPartition, int]) -> bool:
        assert self._consumer is not None
        for tp, position in self._positions.items():
            highwater = self._consumer.highwater(tp) or 0
            if position < max(ends.get(tp, 0), highwater):
                return False
        return True

    async def sync(self, since: float | None = None) -> None:
        """Wait until all records present now are applied. With `since` (a
        `time.monotonic()` reading), return at once if a sync that began at or after
        `since` has completed: it covered every record produced before `since`."""
        if since is not None and self._last_sync >= since:
            return
        await self._started.wait()
        assert self._consumer is not None
        begun = time.monotonic()
        ends = await self._consumer.end_offsets(list(self._positions))
        await self._tick.wait()
        while not self._caught_up(ends):
            await self._tick.wait()
        self._last_sync = begun
