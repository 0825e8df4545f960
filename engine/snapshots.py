"""Store snapshots: a worker start replays only the facts after the newest snapshot (issue 12).

Without them a start folds the whole facts topic (kept forever), so recovery
time grows with history. A worker that owns partition 0 of the first input
topic periodically pickles its `Store` (opaque here: FX history, dedupe
memory, every KPI family) together with the global reader's positions in the
facts and business topics, and writes it to `<prefix>store-snapshots`:

- partition 0 holds the pickle in chunks of 512 KiB (keys `A:<i>` / `B:<i>`,
  the two slots alternate, so compaction keeps the two newest snapshots);
- partition 1 holds one small JSON *head* per snapshot, written after its
  chunks: format and code version, reporting currency, positions, the chunk
  offsets, size and SHA-256 of the pickle.

A start reads the last few heads, takes the newest usable one (same format,
same code -- a hash of events/ and tables/ --, same currency, same partitions,
positions within the topics' current offsets, chunks complete, SHA-256 and
unpickling right), adopts the store, and starts the reader at the positions;
otherwise the previous head, otherwise a full replay. Nothing about it is
trusted beyond what it checks: any failure means a full replay, never a crash.

Consistency: the store of a worker also holds what it applied itself and not
yet read back as facts. A snapshot is captured synchronously (no other task
runs meanwhile; the usage owner's lock keeps a usage publish from being half
done) and written only after every fact made before the capture is
acknowledged by Kafka (outbox flushed, producer flushed). So whatever a
snapshot holds is in the facts topic too, and an input that was applied but
not committed when the worker died is a replay to the restored store (its
input key is remembered), exactly as it is to a worker that read its fact.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import pickle
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from events import schema
from tables.store import Store

log = logging.getLogger("streamkpi.snapshots")

SUFFIX = "store-snapshots"
CHUNKS, HEADS = 0, 1  # partitions of the snapshot topic
FORMAT = 1
CHUNK_BYTES = 512 * 1024
HEADS_TO_TRY = 3
MIN_NEW_RECORDS = 1_000  # reader records applied since the last snapshot


def code_version() -> str:
    """A hash of the code that defines the pickled objects: a snapshot of other code
    (another release, a local change) is never unpickled into this one."""
    import events
    import tables

    digest = hashlib.sha256()
    for package in (events, tables):
        for path in sorted(Path(package.__file__).parent.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Head:
    format: int
    code: str
    currency: str
    created: float
    slot: str
    positions: dict[str, int]  # "topic:partition" -> next offset the reader reads
    chunks: list[int]  # offsets in partition CHUNKS, in order
    size: int
    sha256: str

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes | None) -> Head | None:
        try:
            body = orjson.loads(raw or b"")
            head = cls(**body)
        except (orjson.JSONDecodeError, TypeError):
            return None
        return head if isinstance(head.positions, dict) and isinstance(head.chunks, list) else None


def key_of(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


def problem(head: Head, currency: str, bounds: dict[str, tuple[int, int]], code: str) -> str | None:
    """Why `head` cannot be used by this worker (None: it can). `bounds` maps each
    facts/business partition to its (first, end) offsets now."""
    if head.format != FORMAT:
        return f"format {head.format}, not {FORMAT}"
    if head.code != code:
        return f"written by other code ({head.code}, this is {code})"
    if head.currency != currency:
        return f"reporting currency {head.currency}, not {currency}"
    if set(head.positions) != set(bounds):
        return "the facts/business partitions differ"
    for name, (first, end) in bounds.items():
        position = head.positions[name]
        if not isinstance(position, int) or not first <= position <= end:
            return f"{name} position {position} outside {first}..{end} (topic recreated or cut)"
    if not head.chunks or head.size <= 0:
        return "empty"
    return None


def unpickle(head: Head, body: bytes) -> Store | None:
    if len(body) != head.size or hashlib.sha256(body).hexdigest() != head.sha256:
        return None
    try:
        store = pickle.loads(body)  # noqa: S301 - written by the workers (see docs)
    except Exception:  # noqa: BLE001 - a corrupt pickle is a fallback, not a crash
        return None
    return store if isinstance(store, Store) else None


def dumps(store: Store) -> bytes:
    return pickle.dumps(store, protocol=pickle.HIGHEST_PROTOCOL)


def chunks_of(body: bytes) -> list[bytes]:
    return [body[i : i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES)] or [b""]


# -- reading ---------------------------------------------------------------------------------


async def _read(consumer: AIOKafkaConsumer, tp: TopicPartition, first: int, end: int) -> list[Any]:
    """Records of `tp` in [first, end)."""
    consumer.assign([tp])
    consumer.seek(tp, first)
    out: list[Any] = []
    deadline = time.monotonic() + 60
    while await consumer.position(tp) < end and time.monotonic() < deadline:
        batches = await consumer.getmany(tp, timeout_ms=500)
        out.extend(record for record in batches.get(tp, []) if record.offset < end)
    return out


async def load(options: dict[str, Any], topic: str) -> list[tuple[Head, Store | None]]:
    """The newest heads (newest first), each with its store or None if unusable."""
    consumer = AIOKafkaConsumer(
        enable_auto_commit=False, max_partition_fetch_bytes=4 << 20, **options
    )
    await consumer.start()
    try:
        heads_tp, chunks_tp = TopicPartition(topic, HEADS), TopicPartition(topic, CHUNKS)
        first, end = await _bounds(consumer, heads_tp)
        records = await _read(consumer, heads_tp, max(first, end - HEADS_TO_TRY), end)
        heads = [h for h in (Head.decode(r.value) for r in reversed(records)) if h is not None]
        out: list[tuple[Head, Store | None]] = []
        for head in heads:
            out.append((head, await _store_of(consumer, chunks_tp, head)))
        return out
    finally:
        await consumer.stop()


async def _bounds(consumer: AIOKafkaConsumer, tp: TopicPartition) -> tuple[int, int]:
    first = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    return first, end


async def true_bounds(
    options: dict[str, Any], tps: list[TopicPartition]
) -> dict[TopicPartition, tuple[int, int]]:
    """(first, end) offsets of each partition. Tansu answers ListOffsets with the last
    batch's base offset + 1, so the end is taken from the high watermark of a fetch."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **options)
    await consumer.start()
    try:
        firsts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, max(firsts[tp], ends[tp] - 1))
        pending = {tp for tp in tps if ends[tp] > firsts[tp]}
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            await consumer.getmany(*pending, timeout_ms=200)
            pending = {tp for tp in pending if consumer.highwater(tp) is None}
        if pending:
            raise TimeoutError(f"no high watermark for {sorted(map(key_of, pending))}")
        return {tp: (firsts[tp], max(ends[tp], consumer.highwater(tp) or 0)) for tp in tps}
    finally:
        await consumer.stop()


async def _store_of(consumer: AIOKafkaConsumer, tp: TopicPartition, head: Head) -> Store | None:
    if not head.chunks or not all(isinstance(o, int) for o in head.chunks):
        return None
    records = await _read(consumer, tp, min(head.chunks), max(head.chunks) + 1)
    by_offset = {r.offset: r.value or b"" for r in records}
    if any(o not in by_offset for o in head.chunks):
        return None
    return unpickle(head, b"".join(by_offset[o] for o in head.chunks))


async def restore(runtime: Any) -> Head | None:
    """Adopt the newest usable snapshot into `runtime` (store + reader positions);
    None: the reader replays everything, as without snapshots."""
    settings = runtime.settings
    if settings.snapshot_interval <= 0:
        return None
    begun = time.monotonic()
    try:
        candidates = await load(runtime.reader.options, settings.topic(SUFFIX))
        folded = (settings.topic(schema.FACTS), settings.topic(schema.BUSINESS))
        tps = [tp for tp in runtime.reader.positions() if tp.topic in folded]
        bounds = await true_bounds(runtime.reader.options, tps)
    except Exception as exc:  # noqa: BLE001 - no snapshot is better than no worker
        log.warning("store snapshots unreadable, replaying all facts: %s", exc)
        return None
    code = code_version()
    named = {key_of(tp): value for tp, value in bounds.items()}
    for head, store in candidates:
        reason = problem(head, settings.currency, named, code)
        if reason is None and store is None:
            reason = "chunks missing, corrupt or not a Store"
        if reason is not None:
            log.warning("store snapshot of %s not used: %s", _when(head.created), reason)
            continue
        adopt(runtime, store)
        runtime.reader.resume_from({tp: head.positions[key_of(tp)] for tp in bounds})
        log.info(
            "restored the store snapshot of %s (%.1f MB) in %.2f s; replaying the facts after it",
            _when(head.created),
            head.size / 1e6,
            time.monotonic() - begun,
        )
        return head
    if candidates:
        log.warning("no usable store snapshot: replaying all facts")
    return None


def adopt(runtime: Any, store: Store) -> None:
    """Every holder of the worker's store gets the restored one."""
    runtime.store = store
    runtime.router.store = store
    runtime.usage.store = store


def _when(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))


# -- writing ---------------------------------------------------------------------------------


class Writer:
    """Writes a snapshot every `interval` s while this worker owns partition 0 of the
    first input topic (one writer per deployment, whoever it is)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.topic = runtime.settings.topic(SUFFIX)
        self.slot = "A"
        self.last_applied = -MIN_NEW_RECORDS
        self.written = 0

    def leads(self) -> bool:
        first = self.runtime.settings.topic(schema.INPUT_TOPICS[0])
        with contextlib.suppress(Exception):
            return any(
                tp.topic == first and tp.partition == 0
                for tp in self.runtime.app.consumer.assignment()
            )
        return False

    async def run_forever(self) -> None:
        interval = self.runtime.settings.snapshot_interval
        if interval <= 0:
            return
        while not self.runtime.should_stop:
            await asyncio.sleep(interval)
            if (
                not self.leads()
                or self.runtime.reader.applied - self.last_applied < MIN_NEW_RECORDS
            ):
                continue
            try:
                await self.write()
            except Exception as exc:  # noqa: BLE001 - the next interval tries again
                log.warning("store snapshot not written: %s", exc)

    def capture(self) -> tuple[bytes, dict[str, int]]:
        """The store and the reader's positions at one instant (synchronous)."""
        runtime = self.runtime
        facts, business = (
            runtime.settings.topic(schema.FACTS),
            runtime.settings.topic(schema.BUSINESS),
        )
        positions = {
            key_of(tp): offset
            for tp, offset in runtime.reader.positions().items()
            if tp.topic in (facts, business)
        }
        return dumps(runtime.store), positions

    async def write(self) -> Head:
        runtime = self.runtime
        begun = time.monotonic()
        applied = runtime.reader.applied
        async with runtime.usage.lock:
            body, positions = self.capture()
        # everything the captured store holds must be in Kafka before the snapshot is
        await runtime.outbox.flush()
        await runtime.app.producer.flush()
        captured = time.monotonic() - begun
        producer = AIOKafkaProducer(max_request_size=4 << 20, linger_ms=0, **runtime.reader.options)
        await producer.start()
        try:
            offsets = []
            for index, chunk in enumerate(chunks_of(body)):
                meta = await producer.send_and_wait(
                    self.topic, chunk, key=f"{self.slot}:{index}".encode(), partition=CHUNKS
                )
                offsets.append(meta.offset)
            head = Head(
                FORMAT,
                code_version(),
                runtime.settings.currency,
                time.time(),
                self.slot,
                positions,
                offsets,
                len(body),
                hashlib.sha256(body).hexdigest(),
            )
            await producer.send_and_wait(
                self.topic, head.encode(), key=f"head:{self.slot}".encode(), partition=HEADS
            )
        finally:
            await producer.stop()
        self.slot = "B" if self.slot == "A" else "A"
        self.last_applied = applied
        self.written += 1
        log.info(
            "store snapshot written: %.1f MB in %d chunks, capture %.2f s, total %.2f s",
            len(body) / 1e6,
            len(offsets),
            captured,
            time.monotonic() - begun,
        )
        return head
