"""Record batches that cannot be decoded are skipped and marked, never a crash (issue 12).

aiokafka decodes a fetched record batch inside `PartitionRecords._unpack_records`
(consumer/fetcher.py): it checks the batch CRC, decompresses it and parses its
records while the consumer's `getmany` drains the fetch. A bad CRC, a codec
it cannot decompress (an unknown codec id, a missing codec library, a
corrupt gzip/snappy/lz4/zstd payload) or a corrupt record raises out of
`getmany`: Faust's consumer crashes the worker, a restarted worker fetches the
same batch and crashes again, and the records fetched before it in the same
response are lost with it.

`guard_batches()` wraps the batches of every `PartitionRecords` (a class patch,
idempotent, like engine/faust_tuning.py) so that a batch that fails is
replaced by *placeholder records* occupying its offsets:

- the *head* at the first offset that could not be decoded (the batch's base
  offset, or the offset after the last record that parsed), whose value is an
  `UndecodableBatch` naming the offsets and the error;
- a *filler* at every later offset of the batch, so that Faust sees no gap in
  the offsets it acknowledges and commits (its gap bookkeeping skips offset 0).

The placeholders go through the normal agent path: the router turns the head
into one rejection `undecodable_batch` (dead letter, rejection fact, count
keyed by topic/partition/offset), fillers into nothing; they are acknowledged
and committed like any message, so a replay counts the batch once and the
records around it keep their exactly-once effect. The head's offset depends
only on the batch's bytes, never on where a fetch started.

An `UndecodableBatch` is a `bytes` subclass whose content is `b"[]"`: no
producer can forge one (a value from the wire is plain `bytes`), and the global
reader's handlers, which do not look for it, see an empty facts pack and no
`fx.rate`. One error line per bad batch and process is logged.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from events import types as t

log = logging.getLogger("streamkpi.undecodable")

REASON = "undecodable_batch"
# More fillers than this (a batch header claiming millions of offsets) would
# cost more than it saves: then only the head and the batch's last offset are
# marked, and Faust's own gap bookkeeping covers the offsets between them.
FILLER_LIMIT = 100_000
_LOGGED_LIMIT = 10_000


class UndecodableBatch(bytes):
    """The value of a placeholder record standing for offsets of a bad batch."""

    head: bool
    detail: str

    def __new__(cls, detail: str, head: bool) -> UndecodableBatch:
        value = super().__new__(cls, b"[]")
        value.detail = detail
        value.head = head
        return value

    def items(self) -> list[t.Rejection]:
        """What the router makes of it: one rejection for the head, nothing for a filler."""
        return [t.Rejection(REASON, self.detail, b"")] if self.head else []


class _Placeholder:
    """Quacks like an aiokafka record for `PartitionRecords._consumer_record`."""

    __slots__ = ("offset", "value")
    timestamp = 0
    timestamp_type = 0
    key = None
    headers: list[tuple[str, bytes]] = []
    checksum = None

    def __init__(self, offset: int, value: UndecodableBatch) -> None:
        self.offset = offset
        self.value = value


_logged: OrderedDict[tuple[str, int, int], None] = OrderedDict()


def _log_once(topic: str, partition: int, first: int, last: int, error: str) -> None:
    """One line per bad batch per process (the worker's consumer and its reader
    may both meet it)."""
    key = (topic, partition, first)
    if key in _logged:
        return
    _logged[key] = None
    if len(_logged) > _LOGGED_LIMIT:
        _logged.popitem(last=False)
    log.error(
        "undecodable record batch skipped: %s[%d] offsets %d..%d: %s",
        topic,
        partition,
        first,
        last,
        error,
    )


def placeholders(
    topic: str, partition: int, first: int, last: int, error: str
) -> Iterator[_Placeholder]:
    """The head at `first`, fillers up to `last` (or only at `last` past the limit)."""
    _log_once(topic, partition, first, last, error)
    detail = f"{topic}[{partition}] offsets {first}..{last}: {error}"
    yield _Placeholder(first, UndecodableBatch(detail, True))
    filler = UndecodableBatch(detail, False)
    start = first + 1 if last - first <= FILLER_LIMIT else last
    for offset in range(start, last + 1):
        yield _Placeholder(offset, filler)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class _GuardedBatch:
    """A record batch whose CRC check never fails and whose iteration never raises:
    a batch that fails yields placeholders for the offsets it could not deliver."""

    def __init__(self, batch: Any, topic: str, partition: int) -> None:
        self._batch = batch
        self._topic = topic
        self._partition = partition
        self._crc_error: str | None = None
        self._records: Iterator[Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def validate_crc(self) -> bool:
        try:
            valid = bool(self._batch.validate_crc())
        except Exception as exc:  # noqa: BLE001 - any failure marks the batch
            self._crc_error = _describe(exc)
            return True
        if not valid:
            self._crc_error = "CorruptRecordException: invalid CRC"
        return True

    @property
    def is_control_batch(self) -> bool:
        # a batch failing its CRC has untrusted attributes: count it, do not skip it
        return self._crc_error is None and bool(self._batch.is_control_batch)

    @property
    def is_transactional(self) -> bool:
        return self._crc_error is None and bool(self._batch.is_transactional)

    def __iter__(self) -> _GuardedBatch:
        return self

    def __next__(self) -> Any:
        if self._records is None:
            self._records = self._guarded()
        return next(self._records)

    def _guarded(self) -> Iterator[Any]:
        batch = self._batch
        last = batch.next_offset - 1
        if self._crc_error is not None:
            yield from self._marked(batch.base_offset, last, self._crc_error)
            return
        parsed = batch.base_offset - 1
        try:
            for record in batch:
                parsed = record.offset
                yield record
        except Exception as exc:  # noqa: BLE001 - decompression and parse errors vary
            if parsed < last:
                yield from self._marked(parsed + 1, last, _describe(exc))

    def _marked(self, first: int, last: int, error: str) -> Iterator[_Placeholder]:
        return placeholders(self._topic, self._partition, first, max(first, last), error)


class _BrokenFrame:
    """A batch whose framing cannot be read: its end is unknown, so only the
    offset the fetch asked for is marked; the next fetch starts after it."""

    is_control_batch = False
    is_transactional = False
    producer_id = None

    def __init__(self, offset: int, topic: str, partition: int, error: str) -> None:
        self.base_offset = offset
        self.next_offset = offset + 1
        self._records = placeholders(topic, partition, offset, offset, error)

    def validate_crc(self) -> bool:
        return True

    def __iter__(self) -> Iterator[_Placeholder]:
        return self._records


class _GuardedRecords:
    """Wraps a fetch response's `MemoryRecords`: every batch comes out guarded."""

    def __init__(self, records: Any, owner: Any) -> None:
        self._records = records
        self._owner = owner
        self._broken = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)

    def has_next(self) -> bool:
        return not self._broken and bool(self._records.has_next())

    def next_batch(self) -> Any:
        tp = self._owner._tp
        try:
            batch = self._records.next_batch()
        except Exception as exc:  # noqa: BLE001 - framing errors stop this response
            self._broken = True
            offset = self._owner.next_fetch_offset
            return _BrokenFrame(offset, tp.topic, tp.partition, _describe(exc))
        return _GuardedBatch(batch, tp.topic, tp.partition)


def guard_batches() -> None:
    """Patch aiokafka's `PartitionRecords` so every fetched batch is guarded (idempotent)."""
    from aiokafka.consumer.fetcher import PartitionRecords

    if getattr(PartitionRecords, "_streamkpi_guarded", False):
        return
    original = PartitionRecords.__init__

    def __init__(self: Any, tp: Any, records: Any, *args: Any, **kwargs: Any) -> None:
        original(self, tp, records, *args, **kwargs)
        # the record generator has not started yet: it will read the wrapped records
        self._records = _GuardedRecords(self._records, self)

    PartitionRecords.__init__ = __init__  # type: ignore[method-assign]
    PartitionRecords._streamkpi_guarded = True  # type: ignore[attr-defined]
