"""The id memory of payments and business events: bounded, and the same in any interleaving."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tables.dedupe import IdsByDay


def test_one_source_forgets_ids_older_than_its_horizon() -> None:
    ids = IdsByDay(keep_days=100)
    ids.add("old", 10, "p:0")
    ids.add("new", 200, "p:0")
    assert "old" not in ids and "new" in ids
    ids.add("late", 50, "p:0")  # older than the source's horizon: not remembered
    assert "late" not in ids and len(ids) == 1


def test_a_partition_far_ahead_does_not_make_another_forget() -> None:
    ids = IdsByDay(keep_days=100)
    ids.add("ahead", 300, "p:0")
    ids.add("behind", 10, "p:1")
    assert "behind" in ids and "ahead" in ids


def test_a_duplicate_is_recognised_across_sources() -> None:
    ids = IdsByDay()
    ids.add("x", 5, "p:0")
    assert "x" in ids


STREAM = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 400)), max_size=60)


@given(STREAM, st.randoms())
def test_memory_depends_only_on_each_source_order(events, rnd) -> None:  # type: ignore[no-untyped-def]
    """Interleave the per-source streams differently: the ids remembered are the same."""
    tagged = [(f"e{i}", src, day) for i, (src, day) in enumerate(events)]
    shuffled = sorted(tagged, key=lambda e: (rnd.random(), e[1]))
    by_source = {src: [e for e in tagged if e[1] == src] for src in range(4)}
    interleaved = []  # keep each source's own order, mix the sources at random
    cursors = dict.fromkeys(by_source, 0)
    for _id, src, _day in shuffled:
        interleaved.append(by_source[src][cursors[src]])
        cursors[src] += 1
    straight, mixed = IdsByDay(), IdsByDay()
    for event_id, src, day in tagged:
        straight.add(event_id, day, f"p:{src}")
    for event_id, src, day in interleaved:
        mixed.add(event_id, day, f"p:{src}")
    assert {e for e, _s, _d in tagged if e in straight} == {e for e, _s, _d in tagged if e in mixed}
