"""Customer activity reported once per worker: the partitions of one owner share `NotedDays`."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.usage import UsageOwner
from events import types as t
from tables.activity import NotedDays, PartitionActivity, UsageView
from tables.store import Store
from tests.tables.helpers import ev

T = 40


def use(day: int, customer: str, user: str = "u") -> t.Event:
    return ev("usage", day, user_id=user, customer_id=customer, feature="f")


def test_a_pair_seen_on_two_partitions_of_one_owner_is_reported_once() -> None:
    noted = NotedDays()
    a, b = PartitionActivity(0, noted), PartitionActivity(1, noted)
    a.apply(use(T, "c1"), 0)
    b.apply(use(T, "c1"), 0)
    b.apply(use(T - 1, "c1"), 1)  # older than noted: nothing new
    b.apply(use(T + 1, "c1"), 2)  # later: new
    day = use(T, "c1").day
    assert a.drain()[1] == [("c1", day)]
    assert b.drain()[1] == [("c1", day + 1)]


def test_partitions_without_a_shared_filter_report_on_their_own() -> None:
    a, b = PartitionActivity(0), PartitionActivity(1)
    a.apply(use(T, "c1"), 0)
    b.apply(use(T, "c1"), 0)
    assert a.drain()[1] == b.drain()[1] == [("c1", use(T, "c1").day)]


def test_noted_days_share_one_int_per_day() -> None:
    noted = NotedDays()
    state = PartitionActivity(0, noted)
    state.apply(use(T, "c1"), 0)
    state.apply(use(T, "c2"), 1)
    assert noted.last["c1"] is noted.last["c2"]


def test_after_a_revocation_the_owner_reports_replayed_activity_again() -> None:
    # the activity of unacknowledged input is dropped with the partition states, so
    # the filter must forget it too or the replay would not report it
    store = Store()
    owner = UsageOwner(UsageView(), store, "state", "facts")
    sent: list[tuple[str, bytes | None, bytes | None]] = []

    async def send(topic: str, key: bytes | None, value: bytes | None) -> None:
        sent.append((topic, key, value))

    owner.apply(0, 0, [use(T, "c1")])
    asyncio.run(owner.forget())  # revoked before any publish: nothing sent, nothing acked
    assert sent == [] and store.recency.last_day == {}
    owner.apply(0, 0, [use(T, "c1")])  # the next owner (here: the same) reads it again
    asyncio.run(owner.publish(send))
    assert store.recency.last_day == {"c1": use(T, "c1").day}
    assert any(topic == "facts" for topic, _key, _value in sent)


events = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 30), st.sampled_from(["c1", "c2", "c3"])),
    max_size=40,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.sets(st.integers(0, 40)))
def test_reported_activity_keeps_every_customers_last_day(
    items: list[tuple[int, int, str]], drains: set[int]
) -> None:
    """Whatever the split over partitions and the drain points, the (customer, day)
    pairs reported, folded with max as the store does, give each customer's last day."""
    noted = NotedDays()
    states = [PartitionActivity(p, noted) for p in range(4)]
    reported: dict[str, int] = {}

    def fold(pairs: list[tuple[str, int]]) -> None:
        for customer, day in pairs:
            reported[customer] = max(day, reported.get(customer, day))

    for offset, (partition, day, customer) in enumerate(items):
        states[partition].apply(use(day, customer, user=f"u{offset}"), offset)
        if offset in drains:
            for state in states:
                fold(state.drain()[1])
    for state in states:
        fold(state.drain()[1])
    expected: dict[str, int] = {}
    for _p, day, customer in items:
        d = use(day, customer).day
        expected[customer] = max(d, expected.get(customer, d))
    assert reported == expected
