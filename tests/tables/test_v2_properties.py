"""Invariants of the version 2 families under any history (hypothesis): segments add
up to the totals, committed MRR ≤ MRR, cohort retention in range, and the result
does not depend on how keys were spread over partitions."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import types as t
from tables.report import report
from tables.store import Store
from tests.tables.helpers import ev

CUSTOMERS = [f"c{i}" for i in range(6)]
STEP = st.tuples(
    st.sampled_from(["started", "changed", "schedule", "canceled", "paused", "resumed", "attrs"]),
    st.sampled_from(CUSTOMERS),
    st.sampled_from(["s0", "s1"]),
    st.integers(0, 30_000),
    st.integers(0, 9),
    st.sampled_from(["US", "DE", "FR", None]),
    st.sampled_from(["ads", "seo", None]),
)


def _event(step: tuple, day: int) -> t.Event:
    kind, cid, sid, amount, _gap, country, channel = step
    ids = {"customer_id": cid, "subscription_id": f"{cid}-{sid}"}
    if kind == "started":
        return ev("subscription.started", day, plan=sid, amount=amount, currency="USD",
                  interval="month", **ids)  # fmt: skip
    if kind == "changed":
        return ev("subscription.changed", day, amount=amount, **ids)
    if kind == "schedule":
        return ev("subscription.changed", day, cancel_at_period_end=amount % 2 == 0, **ids)
    if kind == "attrs":
        attrs = {k: v for k, v in (("country", country), ("channel", channel)) if v}
        return ev("customer.updated", day, customer_id=cid, **attrs)
    return ev(f"subscription.{kind}", day, **ids)


@st.composite
def histories(draw: st.DrawFn) -> list[t.Event]:
    day, events = 0, []
    for step in draw(st.lists(STEP, max_size=50)):
        day += step[4]
        events.append(_event(step, day))
    return events


def fold(events: list[t.Event], caps: int = 20) -> Store:
    store = Store(max_segments=caps)
    for event in events:
        store.apply(event, "subscriptions")
    return store


def by_name(store: Store) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in report(store):
        out.setdefault(name, []).append((dict(labels), value))
    return out


SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(histories(), st.integers(1, 3))
def test_segments_add_up_to_the_totals(events: list[t.Event], cap: int) -> None:
    got = by_name(fold(events, cap))
    (_, mrr), (_, paying) = got["saas_mrr"][0], got["saas_paying_customers"][0]
    (_, new) = next(x for x in got["saas_mrr_movement"] if x[0] == {"kind": "new", "window": "30d"})
    for dimension in ("country", "channel"):

        def total(name: str, dimension: str = dimension) -> float:
            return sum(v for lb, v in got.get(name, []) if lb["dimension"] == dimension)

        assert abs(total("saas_segment_mrr") - mrr) < 1e-6
        assert total("saas_segment_paying_customers") == paying
        segments = [lb for lb, _ in got.get("saas_segment_mrr", []) if lb["dimension"] == dimension]
        assert len(segments) <= cap + 1
        if new == 0:
            assert total("saas_segment_new_customers") == 0


@SLOW
@given(histories())
def test_committed_mrr_never_exceeds_mrr_and_retention_stays_in_range(
    events: list[t.Event],
) -> None:
    store = fold(events)
    got = by_name(store)
    assert got["saas_committed_mrr"][0][1] <= got["saas_mrr"][0][1] + 1e-9
    assert got["saas_committed_mrr"][0][1] >= -1e-9
    scheduled = [
        sub
        for customer in store.customers.values()
        for sub in customer.subscriptions.values()
        if sub.cancel_scheduled and sub.mrr() > 0
    ]
    assert got["saas_pending_cancellations"][0][1] == len(scheduled)
    for labels, value in got.get("saas_cohort_logo_retention", []):
        assert 0.0 <= value <= 1.0, labels
    for labels, value in got.get("saas_cohort_mrr_retention", []):
        if labels["age"] == "0":
            assert value == 1.0


@SLOW
@given(histories(), st.integers(0, 2**32), st.sampled_from([2, 8]))
def test_any_partitioning_gives_the_one_partition_result(
    events: list[t.Event], seed: int, partitions: int
) -> None:
    """Keys spread over N partitions, consumed in any interleaving that keeps each
    partition's order, fold to the same report as one partition in log order."""
    rnd = random.Random(seed)
    queues: list[list[t.Event]] = [[] for _ in range(partitions)]
    for event in events:
        queues[hash(event.customer_id) % partitions].append(event)  # type: ignore[attr-defined]
    interleaved: list[t.Event] = []
    while any(queues):
        queue = rnd.choice([q for q in queues if q])
        interleaved.append(queue.pop(0))
    assert sorted(report(fold(interleaved)), key=repr) == sorted(report(fold(events)), key=repr)
