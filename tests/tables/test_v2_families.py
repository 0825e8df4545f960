"""The version 2 KPI families with hand-computed numbers (SPEC §3.1): committed MRR,
segments, cohorts, support times, CSAT, signups, burn multiple, plan cap."""

from __future__ import annotations

import pytest

from tables.report import report
from tables.store import Store
from tests.tables.helpers import ev, started, sub_event

TOPICS = {"sub": "subscriptions", "tri": "subscriptions", "cus": "subscriptions"}


def apply_all(store: Store, *events: object) -> list[str]:
    return [store.apply(e, TOPICS.get(e.type[:3], "business")).status for e in events]  # type: ignore[attr-defined]


def samples(store: Store) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(n, tuple(sorted(lb))): v for n, lb, v in report(store)}


def sample(store: Store, name: str, **labels: str) -> float | None:
    return samples(store).get((name, tuple(sorted(labels.items()))))


def updated(cid: str, day: int = 0, **attrs: str) -> object:
    return ev("customer.updated", day, customer_id=cid, **attrs)


# -- committed MRR -------------------------------------------------------------------
def test_committed_mrr_schedule_withdraw_cancel_restart() -> None:
    store = Store()
    apply_all(store, started("c1", "s1", 10000), started("c2", "s2", 5000))
    apply_all(store, sub_event("changed", "c1", "s1", day=1, cancel_at_period_end=True))
    assert sample(store, "saas_mrr") == 150.0  # a schedule moves no MRR
    assert sample(store, "saas_committed_mrr") == 50.0
    assert sample(store, "saas_pending_cancellations") == 1.0
    assert sample(store, "saas_mrr_movement", kind="contraction", window="30d") == 0.0
    apply_all(store, sub_event("changed", "c1", "s1", day=2, cancel_at_period_end=False))
    assert (sample(store, "saas_committed_mrr"), sample(store, "saas_pending_cancellations")) == (
        150.0,
        0.0,
    )
    apply_all(store, sub_event("changed", "c2", "s2", day=3, cancel_at_period_end=True))
    apply_all(store, sub_event("canceled", "c2", "s2", day=4))  # the cancel clears it
    assert (sample(store, "saas_committed_mrr"), sample(store, "saas_pending_cancellations")) == (
        100.0,
        0.0,
    )
    apply_all(store, sub_event("changed", "c1", "s1", day=5, cancel_at_period_end=True))
    apply_all(store, started("c1", "s1", 20000, day=6))  # a restart clears it
    assert sample(store, "saas_committed_mrr") == sample(store, "saas_mrr") == 200.0


def test_paused_scheduled_subscription_is_not_pending() -> None:
    store = Store()
    apply_all(store, started("c1", "s1", 10000))
    apply_all(store, sub_event("changed", "c1", "s1", cancel_at_period_end=True))
    apply_all(store, sub_event("paused", "c1", "s1", day=1))
    assert sample(store, "saas_pending_cancellations") == 0.0
    assert sample(store, "saas_committed_mrr") == 0.0
    apply_all(store, sub_event("resumed", "c1", "s1", day=2))
    assert sample(store, "saas_pending_cancellations") == 1.0


# -- segments ------------------------------------------------------------------------
def test_customer_changing_country_takes_its_history_along() -> None:
    store = Store()
    apply_all(store, updated("c1", country="DE"), started("c1", "s1", 10000, day=1))
    apply_all(store, updated("c2", country="DE"), started("c2", "s2", 5000, day=1))
    apply_all(store, sub_event("canceled", "c2", "s2", day=40))
    apply_all(store, updated("c2", day=41, country="FR"))  # churned, then moved
    apply_all(store, updated("c1", day=42, country="FR", channel="ads"))
    get = lambda name, seg: sample(store, name, dimension="country", segment=seg, **W)  # noqa: E731
    W: dict[str, str] = {"window": "30d"}
    assert get("saas_segment_new_customers", "FR") == 0.0  # new movements were day 1
    assert get("saas_segment_customer_churn_rate", "FR") == 0.5  # 1 churn / C_start 2
    assert sample(store, "saas_segment_mrr", dimension="country", segment="FR") == 100.0
    assert sample(store, "saas_segment_mrr", dimension="country", segment="DE") is None
    assert get("saas_segment_nrr", "FR") == pytest.approx(100 / 150)
    assert sample(store, "saas_segment_mrr", dimension="channel", segment="ads") == 100.0


def test_attributes_are_sticky_and_unknown_by_default() -> None:
    store = Store()
    apply_all(store, started("c1", "s1", 10000), updated("c1", channel="seo"))
    apply_all(store, updated("c1", day=1, country="US"))  # channel kept
    assert sample(store, "saas_segment_mrr", dimension="channel", segment="seo") == 100.0
    apply_all(store, started("c2", "s2", 4000, day=2))
    assert sample(store, "saas_segment_mrr", dimension="channel", segment="unknown") == 40.0


def test_segment_cap_merges_the_rest_as_other_with_union_figures() -> None:
    store = Store(max_segments=2)
    for i, amount in enumerate([50000, 40000, 30000, 20000]):
        cid = f"c{i}"
        apply_all(store, updated(cid, channel=f"ch{i}"), started(cid, f"s{i}", amount))
    spend = dict(category="marketing", amount=60000, currency="USD")
    apply_all(store, ev("spend", 0, channel="ch2", **spend), ev("spend", 0, channel="ch3", **spend))
    apply_all(store, ev("spend", 0, channel="ch0", **spend))
    names = {
        dict(lb)["segment"]
        for n, lb, _ in report(store)
        if n == "saas_segment_mrr" and dict(lb)["dimension"] == "channel"
    }
    assert names == {"ch0", "ch1", "other"}
    assert sample(store, "saas_segment_mrr", dimension="channel", segment="other") == 500.0
    cac = lambda seg: sample(  # noqa: E731
        store, "saas_segment_cac", dimension="channel", segment=seg, window="30d"
    )
    assert cac("other") == 600.0  # (600 + 600) / 2 new customers
    assert cac("ch0") == 600.0
    assert cac("ch1") == 0.0  # a new customer, no spend


def test_segments_sum_to_the_totals() -> None:
    store = Store()
    for i in range(6):
        cid = f"c{i}"
        apply_all(store, updated(cid, country=["US", "DE"][i % 2]), started(cid, f"s{i}", 1000 * i))
    got = samples(store)
    for dimension in ("country", "channel"):
        mrr = sum(
            v
            for (n, lb), v in got.items()
            if n == "saas_segment_mrr" and dict(lb)["dimension"] == dimension
        )
        assert mrr == pytest.approx(got[("saas_mrr", ())])


# -- cohorts -------------------------------------------------------------------------
def test_cohort_triangle_by_hand() -> None:
    """Mar 2026: a (100) and b (50); Apr: c (80). b churns in April, a expands in May."""
    store = Store()
    apply_all(store, started("a", "sa", 10000, day=0), started("b", "sb", 5000, day=3))
    apply_all(store, started("c", "sc", 8000, day=35))  # 2026-04-05
    apply_all(store, sub_event("canceled", "b", "sb", day=40))  # April
    apply_all(store, sub_event("changed", "a", "sa", day=70, amount=15000))  # May
    got = samples(store)
    assert got[("saas_cohort_customers", (("cohort", "2026-03"),))] == 2.0
    assert got[("saas_cohort_customers", (("cohort", "2026-04"),))] == 1.0

    def retention(kind: str, cohort: str, age: int) -> float | None:
        return got.get((f"saas_cohort_{kind}_retention", (("age", str(age)), ("cohort", cohort))))

    assert [retention("logo", "2026-03", a) for a in range(3)] == [1.0, 0.5, 0.5]
    assert [retention("mrr", "2026-03", a) for a in range(3)] == [1.0, 100 / 150, 1.0]
    assert [retention("logo", "2026-04", a) for a in range(2)] == [1.0, 1.0]
    assert retention("logo", "2026-03", 3) is None  # T is in May: age 2 is the last


# -- support, CSAT, signups ------------------------------------------------------------
def ticket(kind: str, tid: str, day: int, seconds: int = 0, cid: str = "c1") -> object:
    return ev(f"ticket.{kind}", day, seconds, customer_id=cid, ticket_id=tid)


def test_tickets_first_reply_only_negative_duration_zero_and_reopened() -> None:
    store = Store()
    statuses = apply_all(
        store,
        ticket("opened", "t1", 0),
        ticket("opened", "t1", 0, 3600),  # already open: counts, keeps the first open time
        ticket("replied", "t1", 0, 7200),  # first reply after 2 h
        ticket("replied", "t1", 1),  # later replies ignored
        ticket("resolved", "t1", 1),  # 24 h
        ticket("replied", "t1", 2),  # no longer open
        ticket("opened", "t2", 3, 7200),
        ticket("replied", "t2", 3),  # before the opening: 0 h
    )
    assert statuses[-3] == "rejected"
    assert store.rejected == {}  # counting rejections is the router's job
    assert sample(store, "saas_tickets_opened", window="30d") == 3.0
    assert sample(store, "saas_tickets_resolved", window="30d") == 1.0
    assert sample(store, "saas_ticket_resolution_rate", window="30d") == pytest.approx(1 / 3)
    assert sample(store, "saas_ticket_resolution_hours", window="30d") == 24.0
    assert sample(store, "saas_ticket_first_response_hours", window="30d") == 1.0  # (2 + 0) / 2


def test_reply_to_unknown_ticket_is_refused_and_changes_nothing() -> None:
    store = Store()
    before = report(store)
    assert apply_all(store, ticket("resolved", "nope", 0)) == ["rejected"]
    assert store.apply(ticket("replied", "nope", 0), "business").reason == "unknown_ticket"  # type: ignore[arg-type]
    assert report(store) == before


def test_csat_signups_and_rates() -> None:
    store = Store()
    scores = [5, 4, 3, 1]
    apply_all(store, *(ev("csat.response", 0, customer_id="c", score=s) for s in scores))
    apply_all(store, ev("signup", 0, user_id="u1"), ev("signup", 1, user_id="u2", channel="ads"))
    assert sample(store, "saas_csat", window="30d") == 50.0
    assert sample(store, "saas_signups", window="30d") == 2.0
    assert sample(store, "saas_visitor_signup_rate", window="30d") is None  # no usage side


def test_burn_multiple_only_with_burn_and_net_new_mrr() -> None:
    store = Store()
    apply_all(store, started("c1", "s1", 100000))  # net new MRR 1,000
    assert sample(store, "saas_burn_multiple", window="30d") is None  # no burn
    apply_all(store, ev("spend", 0, category="opex", amount=3000000, currency="USD"))
    assert sample(store, "saas_burn_multiple", window="30d") == 2.5  # 30,000 / 12,000


def test_plan_cap_sums_the_smallest_plans_as_other() -> None:
    store = Store(max_plans=2)
    for i, amount in enumerate([4000, 3000, 2000, 1000]):
        apply_all(store, started(f"c{i}", f"s{i}", amount, plan=f"p{i}"))
    got = {dict(lb)["plan"]: v for n, lb, v in report(store) if n == "saas_plan_mrr"}
    assert got == {"p0": 40.0, "p1": 30.0, "other": 30.0}
    customers = {dict(lb)["plan"]: v for n, lb, v in report(store) if n == "saas_plan_customers"}
    assert customers["other"] == 2.0


def test_a_plan_named_other_joins_the_merged_group() -> None:
    store = Store(max_plans=1)
    for i, (plan, amount) in enumerate([("other", 9000), ("p1", 1000), ("p2", 500)]):
        apply_all(store, started(f"c{i}", f"s{i}", amount, plan=plan))
    got = {dict(lb)["plan"]: v for n, lb, v in report(store) if n == "saas_plan_mrr"}
    assert got == {"other": 105.0}  # the literal "other" (kept) absorbs the merged p1, p2
    assert sum(got.values()) == sample(store, "saas_mrr")
