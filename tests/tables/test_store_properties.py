"""Invariants of the fold under any event sequence (hypothesis)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import types as t
from tables.money import MRR_SCALE, TWELFTHS_PER_INTERVAL
from tables.report import report
from tables.store import Store
from tests.tables.helpers import ev

CUSTOMERS = ["c0", "c1", "c2", "c3", "c4"]
SUBS = ["s0", "s1"]


@st.composite
def histories(draw: st.DrawFn) -> list[t.Event]:
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["started", "changed", "paused", "resumed", "canceled", "trial"]),
                st.sampled_from(CUSTOMERS),
                st.sampled_from(SUBS),
                st.integers(0, 50_000),
                st.sampled_from(sorted(TWELFTHS_PER_INTERVAL)),
                st.integers(0, 2),
                st.sampled_from(["payment_failed", "other"]),
            ),
            max_size=40,
        )
    )
    events, day = [], 0
    for kind, cid, sid, amount, interval, gap, reason in steps:
        day += gap
        ids = {"customer_id": cid, "subscription_id": f"{cid}-{sid}"}
        if kind == "started":
            events.append(
                ev(
                    "subscription.started",
                    day,
                    plan=sid,
                    amount=amount,
                    currency="USD",
                    interval=interval,
                    **ids,
                )
            )
        elif kind == "changed":
            events.append(ev("subscription.changed", day, amount=amount, **ids))
        elif kind == "trial":
            events.append(ev("trial.started", day, plan="trial", **ids))
        elif kind == "canceled":
            events.append(ev("subscription.canceled", day, reason=reason, **ids))
        else:
            events.append(ev(f"subscription.{kind}", day, **ids))
    return events


def fold(events: list[t.Event]) -> Store:
    store = Store()
    for event in events:
        store.apply(event, "subscriptions")
    return store


def expected_mrr(events: list[t.Event]) -> int:
    """An independent replay: status and monthly value per subscription."""
    subs: dict[str, list] = {}
    for e in events:
        sid = e.subscription_id  # type: ignore[attr-defined]
        if isinstance(e, t.SubscriptionStarted):
            subs[sid] = ["active", e.amount, e.interval]
        elif sid not in subs:
            if isinstance(e, t.TrialStarted):
                subs[sid] = ["trial", 0, "month"]
            continue
        elif isinstance(e, t.TrialStarted):
            subs[sid][0] = "trial"
        elif isinstance(e, t.SubscriptionChanged):
            subs[sid][1] = e.amount
        elif isinstance(e, t.SubscriptionPaused) and subs[sid][0] == "active":
            subs[sid][0] = "paused"
        elif isinstance(e, t.SubscriptionResumed) and subs[sid][0] == "paused":
            subs[sid][0] = "active"
        elif isinstance(e, t.SubscriptionCanceled):
            subs[sid][0] = "canceled"
    return MRR_SCALE * sum(
        a * TWELFTHS_PER_INTERVAL[i] for s, a, i in subs.values() if s == "active"
    )


@given(histories())
def test_mrr_is_the_sum_of_active_subscriptions(events: list[t.Event]) -> None:
    store = fold(events)
    assert store.mrr.total == expected_mrr(events)
    assert store.mrr.total == sum(c.mrr for c in store.customers.values())
    assert store.mrr.paying == sum(1 for c in store.customers.values() if c.mrr > 0)


@given(histories(), st.randoms(use_true_random=False))
def test_replaying_any_event_again_changes_nothing(
    events: list[t.Event], rnd: random.Random
) -> None:
    store = Store()
    applied = [e for e in events if store.apply(e, "subscriptions").status == "applied"]
    replayed = list(events)
    for event in rnd.sample(applied, k=min(len(applied), 5)):
        replayed.insert(rnd.randint(replayed.index(event) + 1, len(replayed)), event)
    plain, doubled = fold(events), fold(replayed)
    assert report(plain) == [s for s in report(doubled) if s[0] != "saas_events_duplicate_total"]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.sampled_from([1, 7, 30]))
def test_mrr_start_from_movements_equals_mrr_held_at_window_start(
    events: list[t.Event], days: int
) -> None:
    if not events:
        return
    store = fold(events)
    asof_day = max(e.day for e in events)
    before = fold([e for e in events if e.day <= asof_day - days])
    w = store.mrr.window(asof_day, days)
    net = (
        w.amount["new"]
        + w.amount["reactivation"]
        + w.amount["expansion"]
        - w.amount["contraction"]
        - w.amount["churn"]
    )
    assert store.mrr.total - net == before.mrr.total
    assert (
        store.mrr.paying - (w.count["new"] + w.count["reactivation"] - w.count["churn"])
        == before.mrr.paying
    )


@given(histories(), st.randoms(use_true_random=False))
def test_eight_partitions_equal_one(events: list[t.Event], rnd: random.Random) -> None:
    """Customers spread over 8 partitions, partitions interleaved at random: same KPIs."""
    partitions: list[list[t.Event]] = [[] for _ in range(8)]
    for event in events:
        partitions[hash(event.customer_id) % 8].append(event)  # type: ignore[attr-defined]
    interleaved: list[t.Event] = []
    while any(partitions):
        interleaved.append(rnd.choice([p for p in partitions if p]).pop(0))
    assert report(fold(events)) == report(fold(interleaved))


@given(histories())
def test_rates_stay_in_range(events: list[t.Event]) -> None:
    values = {(n, lb): v for n, lb, v in report(fold(events))}
    for (name, _labels), value in values.items():
        # customer churn can exceed 1 (a customer may churn twice in 30 days) and GRR can be
        # negative (churn of customers that were new in the window): SPEC §3, literally.
        if name in ("saas_customer_churn_rate", "saas_mrr_top_share"):
            assert value >= 0.0, (name, value)
        if name in ("saas_grr", "saas_mrr_top_share"):
            assert value <= 1.0 + 1e-12, (name, value)
        if name == "saas_mrr_hhi":
            assert 0.0 < value <= 1.0 + 1e-12
