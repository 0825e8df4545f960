"""Keep the receiver's memory equal to the compacted `stripe-state` topic, writers included.

The receiver is not the only writer: `stripe import` saves the memory of the
events it backfills to the same topic, possibly while the receiver runs. A
memory loaded once at start would not know them, and the receiver would diff a
redelivered event against an older snapshot and derive events under ids the
import never used (counted twice). So before each translation the receiver
catches up: it reads the topic up to its current end offsets, in log order, on
one consumer that stays assigned from the first read on. The receiver's own
updates come back this way too, after it already committed them — the same
values in the same order, so the memory ends where the log ends.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.stripe.memory import Memory, apply_record, ensure_state_topic


class StateFollower:
    """One consumer assigned to every partition of the state topic, from offset 0."""

    def __init__(self, client_options: dict[str, Any], topic: str) -> None:
        self.client_options = client_options
        self.topic = topic
        self.memory = Memory()
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []

    async def start(self) -> Memory:
        """Create the topic if missing, read it in full; the memory it keeps current."""
        await ensure_state_topic(self.client_options, self.topic)
        # a short fetch wait: a catch-up reads records that already exist, and must not
        # sit behind a fetch the broker holds open; paused between catch-ups, so idle
        # the consumer sends nothing
        consumer = AIOKafkaConsumer(
            enable_auto_commit=False, fetch_max_wait_ms=10, **self.client_options
        )
        await consumer.start()
        self._consumer = consumer
        await consumer.topics()  # metadata first: a topic created elsewhere may have several
        known = consumer.partitions_for_topic(self.topic) or {0}
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(known)]
        consumer.assign(self._partitions)
        await consumer.seek_to_beginning(*self._partitions)
        consumer.pause(*self._partitions)
        await self.catch_up()
        return self.memory

    async def catch_up(self) -> int:
        """Apply every record written up to now; returns how many were read."""
        consumer = self._consumer
        assert consumer is not None, "start() first"
        ends = await consumer.end_offsets(self._partitions)
        remaining = {tp for tp in self._partitions if await consumer.position(tp) < ends[tp]}
        read = 0
        consumer.resume(*remaining)
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for records in batches.values():
                for record in records:
                    apply_record(self.memory, record.key, record.value)
                read += len(records)
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
            consumer.pause(*(tp for tp in self._partitions if tp not in remaining))
        return read

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
