"""The owner side of `saas.usage`: partition states, snapshot publishing, acks.

Usage events are not acknowledged to Faust when processed but when the
snapshot that contains them has been handed to the producer; Faust flushes the
producer before it commits offsets, so a committed offset always has its state
published. After a restart or a rebalance, a partition's state is restored
from its newest snapshots and messages at or below the snapshot's offset are
skipped (exactly-once effect on top of at-least-once delivery).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from events import facts as wire
from events import types as t
from tables.activity import NotedDays, PartitionActivity, UsageView
from tables.store import Store

# (customer, day) pairs per usage-note fact: one Kafka message stays well below 1 MiB
NOTES_PER_FACT = 20_000
Send = Callable[[str, bytes | None, bytes | None], Awaitable[Any]]


class UsageOwner:
    def __init__(self, view: UsageView, store: Store, state_topic: str, facts_topic: str) -> None:
        self.view = view
        self.store = store
        self.state_topic = state_topic
        self.facts_topic = facts_topic
        self.partitions: dict[int, PartitionActivity] = {}
        self.noted = NotedDays()  # one filter of (customer, day) pairs for all partitions
        self._pending_acks: list[Callable[[], Awaitable[Any]]] = []
        self.pending_bytes = 0  # input applied but not yet covered by a publish
        self.lock = asyncio.Lock()

    def _state(self, partition: int) -> PartitionActivity:
        state = self.partitions.get(partition)
        if state is None:
            parts = self.view.partition_parts(partition)
            state = PartitionActivity.restore(partition, parts, self.noted)
            self.partitions[partition] = state
        return state

    def apply(self, partition: int, offset: int, events: list[t.Event]) -> None:
        """The valid events of one message at `offset`."""
        state = self._state(partition)
        if offset <= state.offset:
            return  # already in the published snapshot: a replay
        state.apply_all(events, offset)

    def defer_ack(self, ack: Callable[[], Awaitable[Any]], size: int = 0) -> None:
        """Acknowledge after the next publish; `size`: the input bytes it stands for."""
        self._pending_acks.append(ack)
        self.pending_bytes += size

    async def forget(self) -> None:
        """Partitions revoked: wait for a publish in flight, then drop every state (they are
        restored from snapshots when assigned again; unacknowledged input is replayed,
        and the activity it carries reported again: the pairs noted go too)."""
        async with self.lock:
            self.partitions.clear()
            self.noted.clear()
            self._pending_acks.clear()
            self.pending_bytes = 0

    async def publish(self, send: Send, send_notes: Send | None = None) -> int:
        """Send every changed snapshot and activity fact, then acknowledge the covered messages.

        `send_notes` sends the usage-note facts (default `send`): they are noted in
        `store` before they are sent, so a runtime can tag them as its own and its
        reader skip them (engine/app.py `Runtime._send_own_facts`).

        Runs under `lock`, which revocation takes too: an old owner never sends a
        snapshot after it gave the partition up (it would overwrite the new owner's).
        """
        async with self.lock:
            return await self._publish(send, send_notes or send)

    async def _publish(self, send: Send, send_notes: Send) -> int:
        acks, self._pending_acks, self.pending_bytes = self._pending_acks, [], 0
        sent = 0
        for partition, state in list(self.partitions.items()):
            snapshots, activity = state.drain()
            for key, value in snapshots:
                await send(self.state_topic, key.encode(), value)
                self.view.ingest(key, value)
            if activity:
                for customer, day in activity:
                    self.store.note_usage(customer, day)
                # in pieces: a fast partition can see many (customer, day) pairs per drain
                for start in range(0, len(activity), NOTES_PER_FACT):
                    note = wire.UsageNote(activity[start : start + NOTES_PER_FACT])
                    await send_notes(self.facts_topic, str(partition).encode(), wire.encode(note))
            sent += len(snapshots)
        for ack in acks:
            await ack()
        return sent
