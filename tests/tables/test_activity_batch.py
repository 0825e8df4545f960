"""A message's events applied at once (`apply_all`, `add_all`) give the same state as one by one."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import types as t
from tables.activity import NotedDays, PartitionActivity
from tables.distinct import DistinctCounter
from tests.tables.helpers import ev

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ODD_IDS = ["", "\ud800", "é", "u1", "u2", "u3"]  # for counters; events are validated
WHO = ["é", "u1", "u2", "u3", "u4"]


def _event(kind: str, day: int, who: str, feature: str, customer: str, event_id: str) -> t.Event:
    if kind == "visit":
        return ev("visit", day, event_id=event_id, visitor_id=who)
    return ev("usage", day, event_id=event_id, user_id=who, customer_id=customer, feature=feature)


events = st.builds(
    _event,
    st.sampled_from(["usage", "usage", "visit"]),
    st.integers(0, 40),  # wider than the 31 days kept: some days expire mid-message
    st.sampled_from(WHO),
    st.sampled_from(["search", "export"]),
    st.sampled_from(["c1", "c2"]),
    st.sampled_from([f"e{i}" for i in range(30)]),  # repeats: duplicates
)
messages = st.lists(st.lists(events, max_size=8), max_size=12)


def _state(state: PartitionActivity) -> tuple[object, ...]:
    snapshots, activity = state.drain()
    return snapshots, activity, state.offset, state.max_ts, state.processed, state.duplicates


def _apply_one_by_one(batches: list[list[t.Event]]) -> PartitionActivity:
    state = PartitionActivity(0, NotedDays())
    for offset, batch in enumerate(batches):
        for event in batch:
            state.apply(event, offset)
        state.offset = offset
    return state


def _apply_all(batches: list[list[t.Event]]) -> PartitionActivity:
    state = PartitionActivity(0, NotedDays())
    for offset, batch in enumerate(batches):
        state.apply_all(batch, offset)
    return state


@FAST
@given(messages)
def test_apply_all_is_apply_for_each_event(batches: list[list[t.Event]]) -> None:
    assert _state(_apply_all(batches)) == _state(_apply_one_by_one(batches))


def test_apply_all_is_apply_for_each_event_across_the_sketch_switch() -> None:
    # 2,500 users on one day, with repeats, in messages of 100: each counter goes from an
    # exact set to a sketch inside a message; the snapshot bytes must be the same
    batches = [
        [
            ev(
                "usage",
                3,
                event_id=f"m{m}-{i}",
                user_id=f"u{(m * 100 + i) % 2500}",
                customer_id=f"c{i % 7}",
                feature=("a", "b")[i % 2],
            )
            for i in range(100)
        ]
        for m in range(30)
    ]
    one, batch = _state(_apply_one_by_one(batches)), _state(_apply_all(batches))
    assert one == batch
    assert len(one[0]) > 3  # users, two features, ids, meta


@FAST
@given(st.lists(st.lists(st.sampled_from(ODD_IDS + [f"x{i}" for i in range(40)]), max_size=30)))
def test_add_all_is_add_for_each_id(chunks: list[list[str]]) -> None:
    one, batch = DistinctCounter(threshold=20), DistinctCounter(threshold=20)
    for chunk in chunks:
        changed = [one.add(item) for item in chunk]
        assert batch.add_all(chunk) == any(changed)
        assert batch.to_bytes() == one.to_bytes()
