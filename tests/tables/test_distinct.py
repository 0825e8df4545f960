"""DistinctCounter: exact below 1,000, within 2 % above (SPEC §3), mergeable, serialisable."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tables.distinct import THRESHOLD, DistinctCounter

TOLERANCE = 0.02
ODD_IDS = ["", "\n", "a\nb", "\x00", "\x00\x00", "\ud800", "a\udfffb", "é", "e\u0301", "😀", " "]
any_text = st.text(st.characters(exclude_categories=()), max_size=12)


def counter(ids: range | list[str] | set[str], prefix: str = "u") -> DistinctCounter:
    c = DistinctCounter()
    c.update_many((f"{prefix}{i}" for i in ids) if isinstance(ids, range) else ids)
    return c


def copy(c: DistinctCounter) -> DistinctCounter:
    return DistinctCounter.from_bytes(c.to_bytes())


def rel_error(estimate: int, truth: int) -> float:
    return abs(estimate - truth) / truth


# --- unit tests ------------------------------------------------------------------------


def test_empty_counter() -> None:
    c = DistinctCounter()
    assert (c.estimate(), c.is_exact) == (0, True)
    assert copy(c).estimate() == 0
    assert DistinctCounter.union([]).estimate() == 0
    assert c.nbytes() > 0


def test_exact_below_threshold_and_repeats_change_nothing() -> None:
    c = DistinctCounter()
    assert c.add("u1") is True
    assert c.add("u1") is False
    for _ in range(3):
        c.update_many(f"u{i}" for i in range(THRESHOLD - 1))
    assert (c.estimate(), c.is_exact) == (THRESHOLD - 1, True)


def test_switches_to_sketch_at_threshold() -> None:
    c = counter(range(THRESHOLD - 1))
    assert c.add("new") is True
    assert not c.is_exact
    assert c.estimate() == THRESHOLD
    assert c.add("another") is True  # a sketch answers "may have changed"


@pytest.mark.parametrize("n", [THRESHOLD, 1_001, 1_500, 3_000, 5_000, 10_000, 30_000])
def test_estimate_just_above_threshold_within_tolerance(n: int) -> None:
    c = counter(range(n))
    assert not c.is_exact
    assert c.estimate() >= THRESHOLD
    assert rel_error(c.estimate(), n) <= TOLERANCE


def test_merge_exact_and_exact_stays_exact_under_threshold() -> None:
    a, b = counter(range(0, 600)), counter(range(300, 900))
    a.merge(b)
    assert (a.estimate(), a.is_exact) == (900, True)
    assert (b.estimate(), b.is_exact) == (600, True)


def test_merge_exact_and_exact_switches_over_threshold() -> None:
    a, b = counter(range(0, 700)), counter(range(700, 1_400))
    a.merge(b)
    assert not a.is_exact
    assert rel_error(a.estimate(), 1_400) <= TOLERANCE


@pytest.mark.parametrize("exact_first", [True, False])
def test_merge_exact_and_sketch(exact_first: bool) -> None:
    small, big = counter(range(50_000, 50_500)), counter(range(50_000))
    a, b = (small, big) if exact_first else (big, small)
    before = b.to_bytes()
    a.merge(b)
    assert not a.is_exact
    assert b.to_bytes() == before
    assert rel_error(a.estimate(), 50_500) <= TOLERANCE


def test_merge_sketch_and_sketch() -> None:
    a, b = counter(range(0, 60_000)), counter(range(40_000, 100_000))
    a.merge(b)
    assert rel_error(a.estimate(), 100_000) <= TOLERANCE


def test_union_leaves_inputs_alone() -> None:
    parts = [counter(range(0, 500)), counter(range(400, 20_000)), counter(range(100))]
    before = [p.to_bytes() for p in parts]
    total = DistinctCounter.union(parts)
    assert [p.to_bytes() for p in parts] == before
    assert rel_error(total.estimate(), 20_000) <= TOLERANCE


def test_union_of_small_parts_is_exact() -> None:
    parts = [counter(range(i * 100, i * 100 + 150)) for i in range(9)]
    total = DistinctCounter.union(parts)
    assert (total.estimate(), total.is_exact) == (950, True)


@pytest.mark.parametrize("n", [0, 1, 999, 1_000, 50_000])
def test_round_trip(n: int) -> None:
    c = counter(range(n))
    back = copy(c)
    assert (back.estimate(), back.is_exact) == (c.estimate(), c.is_exact)
    assert len(back.to_bytes()) == len(c.to_bytes())
    if c.is_exact:
        assert back.to_bytes() == c.to_bytes()  # ids are written sorted
    back.update_many(f"u{i}" for i in range(min(n, 10)))  # ids it already holds
    assert back.estimate() == c.estimate()


def test_round_trip_of_odd_ids() -> None:
    back = copy(counter(ODD_IDS))
    assert back.is_exact
    back.update_many(ODD_IDS)
    assert back.estimate() == len(ODD_IDS)


def test_sketch_counts_odd_ids() -> None:
    # just past the switch the sketch still counts (near) exactly, so each id shows
    c = counter(range(THRESHOLD))
    c.update_many(ODD_IDS)
    assert c.estimate() == THRESHOLD + len(ODD_IDS)


def test_serialised_exact_state_is_compact_and_versioned() -> None:
    data = counter(range(999)).to_bytes()
    assert data[0] >> 4 == 1
    assert len(data) < 999 * 12
    assert len(counter(range(100_000)).to_bytes()) < 17_000


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x7f",
        b"\x10\x05\x00\x00\x00",
        b"\x10\x01\x00\x00\x00\x01\x00\x00\x00\xff",
        b"\x11junk",
    ],
)
def test_rejects_bad_state(data: bytes) -> None:
    with pytest.raises(ValueError):
        DistinctCounter.from_bytes(data)


def test_sketch_estimate_never_below_known_floor() -> None:
    assert counter(range(1_010)).estimate() >= THRESHOLD
    merged = DistinctCounter.union([counter(range(1_200)), counter(range(1_200, 2_400))])
    assert merged.estimate() >= 1_200


def test_nbytes_reflects_mode() -> None:
    assert counter(range(10)).nbytes() < counter(range(900)).nbytes() < 100_000
    assert 16_000 < counter(range(100_000)).nbytes() < 20_000


def test_estimate_within_tolerance_at_100k() -> None:
    assert rel_error(counter(range(100_000)).estimate(), 100_000) <= TOLERANCE


def test_estimate_within_tolerance_at_1m() -> None:
    assert rel_error(counter(range(1_000_000)).estimate(), 1_000_000) <= TOLERANCE


def test_mau_union_over_partitions_and_days() -> None:
    rng, users = random.Random(30), 200_000
    days: list[list[DistinctCounter]] = [[DistinctCounter() for _ in range(8)] for _ in range(30)]
    seen: set[int] = set()
    for partitions in days:
        active = rng.sample(range(users), 20_000)
        seen.update(active)
        for user in active:
            partitions[user % 8].add(f"u{user}")
    mau = DistinctCounter.union(c for partitions in days for c in partitions)
    wau = DistinctCounter.union(c for partitions in days[-7:] for c in partitions)
    assert rel_error(mau.estimate(), len(seen)) <= TOLERANCE
    assert wau.estimate() <= mau.estimate()


# --- properties ------------------------------------------------------------------------

span = st.tuples(st.sampled_from("ab"), st.integers(0, 20_000), st.integers(0, 20_000))


def from_span(prefix: str, start: int, size: int) -> DistinctCounter:
    return counter(range(start, start + size), prefix)


def truth(*spans: tuple[str, int, int]) -> int:
    return len({f"{p}{i}" for p, start, size in spans for i in range(start, start + size)})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(span, span)
def test_merge_is_commutative_and_within_tolerance(
    x: tuple[str, int, int], y: tuple[str, int, int]
) -> None:
    a, b = from_span(*x), from_span(*y)
    ab, ba = copy(a), copy(b)
    ab.merge(copy(b))
    ba.merge(copy(a))
    assert ab.estimate() == ba.estimate()
    n = truth(x, y)
    if n < THRESHOLD:
        assert ab.estimate() == n and ab.is_exact
    else:
        assert rel_error(ab.estimate(), n) <= TOLERANCE


@settings(max_examples=100, deadline=None)
@given(st.sets(any_text, max_size=THRESHOLD - 1), st.integers(1, 8), st.randoms())
def test_union_of_disjoint_splits_counts_all_exactly(
    ids: set[str], parts: int, rng: random.Random
) -> None:
    splits: list[list[str]] = [[] for _ in range(parts)]
    for item in ids:
        splits[rng.randrange(parts)].append(item)
    counters = [counter(s) for s in splits]
    total = DistinctCounter.union(counters)
    merged = DistinctCounter()
    for c in counters:
        merged.merge(c)
    assert total.estimate() == merged.estimate() == len(ids)
    assert total.is_exact and copy(total).estimate() == len(ids)


@settings(max_examples=100, deadline=None)
@given(st.lists(any_text, max_size=50))
def test_duplicates_and_self_merge_change_nothing(ids: list[str]) -> None:
    c = counter(ids)
    before = c.to_bytes()
    assert not any(c.add(item) for item in ids)
    c.merge(copy(c))
    assert c.to_bytes() == before and c.estimate() == len(set(ids))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(span, min_size=1, max_size=6), st.randoms())
def test_union_of_splits_within_tolerance_in_any_order(
    spans: list[tuple[str, int, int]], rng: random.Random
) -> None:
    parts = [from_span(*s) for s in spans]
    total = DistinctCounter.union(parts)
    rng.shuffle(parts)
    assert DistinctCounter.union(parts).estimate() == total.estimate()
    n = truth(*spans)
    if n < THRESHOLD:
        assert total.estimate() == n
    elif n:
        assert rel_error(total.estimate(), n) <= TOLERANCE
