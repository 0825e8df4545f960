"""Decode, route and apply input messages: the only thing agents call.

Agents hand over a partition's messages a fetch at a time (`handle_batch`,
see engine/faust_tuning.py `deliver_batches`); each is handled in order as
if alone. For every message of an owned partition: decode and validate (events/), apply
to the local store (tables/), then write what the other workers need — the
fact of an applied event, or the dead letter and rejection fact of a bad one.
Facts go to the outbox (engine/outbox.py), which sends them in packs; dead
letters are sent at once. Usage events go to the partition's activity state
instead (published as snapshots, see tables/activity.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from engine.undecodable import UndecodableBatch
from events import facts as wire
from events import schema
from events import types as t
from events.codec import dead_letter, decode
from tables.store import Store

log = logging.getLogger("streamkpi.router")
# A fetch can bring thousands of messages of one partition: hand the event loop
# to others (a scrape, the outbox flush, the reader) every this many.
YIELD_EVERY = 500
Send = Callable[[str, bytes | None, bytes], Awaitable[Any]]


class Message(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class UsageSink(Protocol):
    def apply(self, partition: int, offset: int, events: list[t.Event]) -> None: ...


class Syncer(Protocol):
    async def sync(self, since: float | None = None) -> None: ...


class FactSink(Protocol):
    def add(self, topic: str, partition: int, fact: bytes) -> None: ...


class Router:
    def __init__(
        self,
        prefix: str,
        store: Store,
        reader: Syncer,
        send: Send,
        facts: FactSink,
        usage: UsageSink,
    ) -> None:
        self.prefix = prefix
        self.store = store
        self.reader = reader
        self.send = send
        self.facts = facts
        self.usage = usage
        self._synced: set[tuple[str, int]] = set()

    def forget_assignment(self) -> None:
        """Partitions were revoked: re-sync before touching any partition again."""
        self._synced.clear()

    async def handle(self, suffix: str, message: Message) -> None:
        await self.handle_batch(suffix, (message,))

    async def handle_batch(self, suffix: str, messages: Sequence[Message]) -> bool:
        """Messages of one partition in offset order (what one fetch returned), each
        handled as if alone. Awaits only to sync, to send a dead letter, before
        converting a foreign currency, and every `YIELD_EVERY` messages. False if
        the partition was revoked meanwhile: the rest is left to the next owner,
        and the batch must not be acknowledged."""
        if not messages:
            return True
        fetched = time.monotonic()  # every message here, and every fx.rate before it, exists
        first = messages[0]
        where = (first.topic, first.partition)
        if where not in self._synced:
            await self.reader.sync()
            self._synced.add(where)
        usage = suffix == schema.USAGE
        for number, message in enumerate(messages, 1):
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let a scrape, a flush or the reader in
            if where not in self._synced:
                return False
            if usage:
                await self._usage(message)
            else:
                await self._handle(suffix, message, fetched)
        return True

    async def _handle(self, suffix: str, message: Message, fetched: float) -> None:
        for index, item in enumerate(_items(message, suffix)):
            if isinstance(item, t.Rejection):
                await self._reject(item, suffix, message, index)
            elif not isinstance(item, t.FxRate):
                # fx.rate is applied by every worker's reader, not by the owner: before
                # converting, read every rate produced before this batch was fetched
                # (one sync per batch; a rate produced just before the event counts)
                if self._needs_fx(item):
                    await self.reader.sync(since=fetched)
                rejection = self._apply(item, suffix, message, index)
                if rejection is not None:
                    await self._reject(rejection, suffix, message, index)

    async def _usage(self, message: Message) -> None:
        items = _items(message, schema.USAGE)
        events = [item for item in items if isinstance(item, t.Event)]
        self.usage.apply(message.partition, message.offset, events)
        if len(events) < len(items):
            for index, item in enumerate(items):
                if isinstance(item, t.Rejection):
                    await self._reject(item, schema.USAGE, message, index)

    def _apply(
        self, event: t.Event, suffix: str, message: Message, index: int
    ) -> t.Rejection | None:
        """Apply an owned event and make its fact; the rejection if the store refuses it."""
        source = _key(message, index)
        if self.store.knows_input(source):
            # a replay of an input applied before (here, or read back as its fact): its
            # event id may be past the id memory's horizon, the input key is not
            return None
        outcome = self.store.apply(event, suffix, None, wire.partition_of(source))
        if outcome.status == "applied":
            self.store.remember_input(source)
            fact = wire.encode(wire.Applied(event, suffix, outcome.pinned, source))
            self.facts.add(message.topic, message.partition, fact)
        elif outcome.status == "rejected":
            return t.Rejection(outcome.reason, "", message.value or b"")
        elif self.store.count_duplicate(source, suffix):
            fact = wire.encode(wire.Duplicate(suffix, source))
            self.facts.add(message.topic, message.partition, fact)
        return None

    def _needs_fx(self, event: t.Event) -> bool:
        """Whether applying `event` converts a foreign currency (then the newest
        fx.rate must have been read first). A change without `currency` keeps
        the subscription's."""
        currency = getattr(event, "currency", None)
        if currency is None and isinstance(event, t.SubscriptionChanged):
            currency = self.store.currency_of(event.customer_id, event.subscription_id)
        return currency is not None and currency != self.store.reporting

    async def _reject(
        self, rejection: t.Rejection, suffix: str, message: Message, index: int
    ) -> None:
        key = _key(message, index)
        if not self.store.count_rejection(key, rejection.reason):
            return  # a replay of an input already rejected
        log.debug("rejected %s: %s (%s)", key, rejection.reason, rejection.detail)
        topic = self.prefix + suffix
        await self.send(self.prefix + schema.REJECTED, message.key, dead_letter(rejection, topic))
        fact = wire.encode(wire.Rejected(rejection.reason, key))
        self.facts.add(message.topic, message.partition, fact)


def _items(message: Message, suffix: str) -> list[t.Event | t.Rejection]:
    value = message.value
    # a placeholder for a record batch that could not be decoded (engine/undecodable.py)
    return value.items() if isinstance(value, UndecodableBatch) else decode(value, suffix)


def _key(message: Message, index: int) -> str:
    """Where an input came from: the idempotency key of its reject/duplicate counts."""
    return wire.input_key(message.topic, message.partition, message.offset, index)
