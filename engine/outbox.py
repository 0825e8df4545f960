"""Facts of owned input partitions, packed into one Kafka message per partition per flush.

One producer send per fact cost more than everything else a subscription event
needs (docs/performance.md). The router adds each fact here instead; `flush()`
sends, per input partition, one JSON array of the facts in the order they were
made, keyed by that partition so that a partition's facts always land in order
in one facts partition, whoever owns it.

At-least-once is kept the way usage snapshots keep it: an input message is
acknowledged to Faust only after the flush that carries its facts has handed
them to the producer, and Faust flushes the producer before it commits an
offset. A crash loses at most unacknowledged input, which is replayed (the
store is idempotent by event id and by input key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson

Send = Callable[[str, bytes | None, bytes | None], Awaitable[Any]]
Ack = Callable[[], Awaitable[Any]]


class Outbox:
    def __init__(self, topic: str, send: Send, max_bytes: int = 256 * 1024) -> None:
        self.topic = topic
        self._send = send
        self.max_bytes = max_bytes
        self._packs: dict[tuple[str, int], list[bytes]] = {}
        self._bytes = 0
        self._acks: list[Ack] = []
        self._lock = asyncio.Lock()
        self.messages_sent = 0
        self.facts_sent = 0

    def add(self, topic: str, partition: int, fact: bytes) -> None:
        """A fact of an input read from `topic`[`partition`]."""
        self._packs.setdefault((topic, partition), []).append(fact)
        self._bytes += len(fact) + 1

    @property
    def pending(self) -> int:
        return sum(len(facts) for facts in self._packs.values())

    async def settle(self, ack: Ack) -> None:
        """The input behind `ack` is fully handled: acknowledge it after its facts
        are sent; send now if the packs are full."""
        self._acks.append(ack)
        if self._bytes >= self.max_bytes:
            await self.flush()

    async def flush(self) -> int:
        """Send every pack (cut at `max_bytes`), then acknowledge the inputs settled
        before; messages sent."""
        async with self._lock:
            packs, self._packs, self._bytes = self._packs, {}, 0
            acks, self._acks = self._acks, []
            sent = 0
            for (topic, partition), facts in packs.items():
                key = f"{topic}:{partition}".encode()
                for chunk in _chunks(facts, self.max_bytes):
                    await self._send(self.topic, key, b"[" + b",".join(chunk) + b"]")
                    sent += 1
                self.facts_sent += len(facts)
            self.messages_sent += sent
            for ack in acks:
                await ack()
            return sent

    async def revoke(self) -> None:
        """Partitions were revoked: send what was made (facts are idempotent, and the
        next owner syncs to them), but acknowledge nothing more -- an offset of a
        revoked partition is the next owner's to commit."""
        self._acks.clear()
        await self.flush()


def _chunks(facts: list[bytes], max_bytes: int) -> Iterator[list[bytes]]:
    """`facts` in order, cut into packs of at most `max_bytes` (at least one fact each):
    a partition batch can make more facts than one Kafka message may carry; the
    packs of one input partition share a key, so they stay in order."""
    chunk: list[bytes] = []
    size = 1  # "[" + facts and their commas + "]"
    for fact in facts:
        if chunk and size + len(fact) + 1 > max_bytes:
            yield chunk
            chunk, size = [], 1
        chunk.append(fact)
        size += len(fact) + 1
    if chunk:
        yield chunk


def unpack(value: bytes) -> list[Any]:
    """The facts in one facts message: a packed array, or a single object."""
    body = orjson.loads(value)
    return body if isinstance(body, list) else [body]
