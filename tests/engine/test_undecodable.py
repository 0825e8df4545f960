"""Undecodable record batches through aiokafka's real decoding path (engine/undecodable.py).

Hand-built fetch responses (concatenated v2 record batches) are decoded by
aiokafka's own `MemoryRecords` and `PartitionRecords`, as its fetcher does:
without the guard each bad batch raises out of the consumer; with it, the bad
batch's offsets come out as placeholders and every good record around it is
delivered. The broker path is tested in tests/integration/test_codecs.py.
"""

from __future__ import annotations

import struct

import pytest
from aiokafka.consumer.fetcher import READ_UNCOMMITTED, PartitionRecords
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.undecodable import FILLER_LIMIT, REASON, UndecodableBatch, guard_batches
from tests.integration.faults import recompute_crc, record_batch, with_bad_crc, with_codec

TP = TopicPartition("saas.payments", 3)


def at(batch: bytearray, base: int) -> bytearray:
    """`batch` with its base offset set, as the broker does when it stores it."""
    moved = bytearray(batch)
    struct.pack_into(">q", moved, 0, base)
    return moved


def response(*batches: bytearray) -> bytes:
    return b"".join(bytes(batch) for batch in batches)


def decoded(raw: bytes, fetch_offset: int = 0) -> list[tuple[int, bytes]]:
    records = PartitionRecords(
        TP, MemoryRecords(raw), [], fetch_offset, None, None, True, READ_UNCOMMITTED
    )
    return [(record.offset, record.value) for record in records]


def good(base: int, *values: bytes) -> bytearray:
    return at(record_batch(list(values)), base)


def heads(items: list[tuple[int, bytes]]) -> list[tuple[int, str]]:
    return [
        (offset, value.detail)
        for offset, value in items
        if isinstance(value, UndecodableBatch) and value.head
    ]


@pytest.fixture(autouse=True)
def guarded() -> None:
    guard_batches()


BAD_BATCHES = {
    "bad CRC": lambda base: with_bad_crc(good(base, b"a", b"b", b"c")),
    "unknown codec 5": lambda base: with_codec(good(base, b"a", b"b", b"c"), 5),
    "unknown codec 7": lambda base: with_codec(good(base, b"a", b"b", b"c"), 7),
    "gzip garbage": lambda base: with_codec(good(base, b"a", b"b", b"c"), 1),
    "snappy garbage": lambda base: with_codec(good(base, b"a", b"b", b"c"), 2),
    "lz4 garbage": lambda base: with_codec(good(base, b"a", b"b", b"c"), 3),
    "zstd garbage": lambda base: with_codec(good(base, b"a", b"b", b"c"), 4),
}


@pytest.mark.parametrize("kind", sorted(BAD_BATCHES))
def test_a_bad_batch_becomes_placeholders_between_good_records(kind: str) -> None:
    raw = response(good(0, b"x0", b"x1"), BAD_BATCHES[kind](2), good(5, b"y5"))
    items = decoded(raw)
    assert [offset for offset, _ in items] == [0, 1, 2, 3, 4, 5]
    assert [value for _, value in items if not isinstance(value, UndecodableBatch)] == [
        b"x0",
        b"x1",
        b"y5",
    ]
    assert [offset for offset, _ in heads(items)] == [2]
    detail = heads(items)[0][1]
    assert detail.startswith("saas.payments[3] offsets 2..4: "), detail
    fillers = [v for _, v in items if isinstance(v, UndecodableBatch) and not v.head]
    assert len(fillers) == 2 and all(f.items() == [] for f in fillers)
    head = items[2][1]
    assert isinstance(head, UndecodableBatch)
    assert [r.reason for r in head.items()] == [REASON]


def test_without_the_guard_aiokafka_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """The failure the guard exists for (so the tests above can fail)."""
    import engine.undecodable as module

    raw = response(good(0, b"x0"), with_bad_crc(good(1, b"a")))
    records = PartitionRecords(TP, MemoryRecords(raw), [], 0, None, None, True, READ_UNCOMMITTED)
    records._records = records._records._records  # unwrap: aiokafka's own MemoryRecords
    with pytest.raises(Exception, match="CRC"):
        list(records)
    assert module.UndecodableBatch  # the module under test is the one patched


def test_a_fetch_starting_inside_a_bad_batch_marks_only_what_is_left() -> None:
    """After the head was committed, a refetch from inside the batch yields fillers only."""
    raw = response(BAD_BATCHES["bad CRC"](10), good(13, b"z"))
    assert heads(decoded(raw, fetch_offset=10)) == [
        (10, "saas.payments[3] offsets 10..12: CorruptRecordException: invalid CRC")
    ]
    later = decoded(raw, fetch_offset=12)
    assert [offset for offset, _ in later] == [12, 13] and heads(later) == []


def test_a_record_that_does_not_parse_keeps_the_records_before_it() -> None:
    """A CRC-valid batch whose last record is garbage: the three before it are delivered."""
    batch = good(0, b"r0", b"r1", b"r2", b"r3")
    batch[-3:] = b"\xff\xff\xff"  # the last record's value and header count: garbage varints
    items = decoded(response(recompute_crc(batch), good(4, b"after")))
    assert items[:3] == [(0, b"r0"), (1, b"r1"), (2, b"r2")] and items[4] == (4, b"after")
    (head,) = heads(items)
    assert head[0] == 3 and "record headers" in head[1]  # the first offset that did not decode
    # the head depends on the bytes only, not on where the fetch started
    assert heads(decoded(response(recompute_crc(batch)), fetch_offset=1)) == [head]


def test_a_frame_too_short_to_be_a_batch_marks_the_fetched_offset_and_stops() -> None:
    raw = response(good(0, b"ok")) + struct.pack(">qi", 1, 4) + b"\x00\x00\x00\x00"
    items = decoded(raw)
    assert [offset for offset, _ in items] == [0, 1]
    assert items[0][1] == b"ok" and heads(items)[0][0] == 1


def test_a_header_claiming_millions_of_offsets_marks_head_and_last_only() -> None:
    batch = with_bad_crc(good(0, b"a"))
    struct.pack_into(">i", batch, 23, 5_000_000)  # lastOffsetDelta
    items = decoded(response(batch))
    assert [offset for offset, _ in items] == [0, 5_000_000]
    assert FILLER_LIMIT < 5_000_000


def test_guard_is_idempotent() -> None:
    init = PartitionRecords.__init__
    guard_batches()
    assert PartitionRecords.__init__ is init


def test_a_placeholder_cannot_be_forged_from_the_wire() -> None:
    """Values from the wire are plain bytes: only the guard makes an UndecodableBatch."""
    items = decoded(response(good(0, b"[]", b'{"undecodable_batch": 1}')))
    assert not any(isinstance(value, UndecodableBatch) for _, value in items)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 200))
def test_no_bytes_make_the_guarded_decoder_raise(garbage: bytes, cut: int) -> None:
    """Fuzz: a good batch, then arbitrary bytes (possibly a cut good batch), never raise,
    and the good batch is always delivered."""
    tail = bytes(good(1, b"next"))[:cut] + garbage
    items = decoded(response(good(0, b"first")) + tail)
    assert items[0] == (0, b"first")
    offsets = [offset for offset, _ in items]
    assert offsets == sorted(offsets)
