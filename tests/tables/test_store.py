"""The global fold with hand-computed numbers (SPEC §3 and the seeds' worked examples)."""

from __future__ import annotations

import pytest

from tables.report import report
from tables.store import Store
from tests.tables.helpers import ev, started, sub_event


def apply_all(store: Store, *events: object) -> list[str]:
    return [
        store.apply(
            e, "subscriptions" if e.type.startswith(("sub", "trial")) else "business"
        ).status
        for e in events
    ]


def sample(store: Store, name: str, **labels: str) -> float | None:
    wanted = tuple(sorted(labels.items()))
    for n, lb, value in report(store):
        if n == name and tuple(sorted(lb)) == wanted:
            return value
    return None


@pytest.mark.parametrize(
    ("amount", "interval", "mrr"),
    [
        (12000, "year", 10.0),
        (4900, "month", 49.0),
        (30000, "quarter", 100.0),
        (1200, "week", 52.0),
        (100, "day", 30.416666666666668),
    ],
)
def test_mrr_normalisation(amount: int, interval: str, mrr: float) -> None:
    store = Store()
    apply_all(store, started("c1", "s1", amount, interval=interval))
    assert sample(store, "saas_mrr") == pytest.approx(mrr, abs=1e-9)
    assert sample(store, "saas_arr") == pytest.approx(12 * mrr, abs=1e-9)


def test_nrr_seed_example_125_percent() -> None:
    """MRR at window start 1200, churn 120, contraction 80, expansion 500 -> NRR 125 %."""
    store = Store()
    apply_all(
        store, started("a", "sa", 60000), started("b", "sb", 12000), started("c", "sc", 48000)
    )
    apply_all(
        store,
        sub_event("changed", "a", "sa", day=40, amount=110000),  # +500
        sub_event("canceled", "b", "sb", day=41),  # churn 120
        sub_event("changed", "c", "sc", day=42, amount=40000),
    )  # contraction 80
    assert sample(store, "saas_nrr", window="30d") == pytest.approx(1.25)
    assert sample(store, "saas_grr", window="30d") == pytest.approx(1000 / 1200)
    assert sample(store, "saas_quick_ratio", window="30d") == pytest.approx(500 / 200)
    assert sample(store, "saas_mrr_movement", kind="expansion", window="30d") == 500.0
    assert sample(store, "saas_mrr_movement", kind="new", window="30d") == 0.0
    assert sample(store, "saas_mrr_movement_total", kind="new") == 1200.0


def test_customer_churn_seed_example_ten_percent() -> None:
    """100 customers at the start, 90 at the end -> 10 % customer churn."""
    store = Store()
    apply_all(store, *(started(f"c{i}", f"s{i}", 1000) for i in range(100)))
    apply_all(store, *(sub_event("canceled", f"c{i}", f"s{i}", day=50) for i in range(10)))
    assert sample(store, "saas_paying_customers") == 90
    assert sample(store, "saas_customer_churn_rate", window="30d") == pytest.approx(0.10)


def test_pause_resume_are_churn_and_reactivation_and_involuntary_is_a_subset() -> None:
    store = Store()
    apply_all(
        store,
        started("c1", "s1", 1000),
        started("c2", "s2", 2000),
        sub_event("paused", "c1", "s1", day=1),
        sub_event("resumed", "c1", "s1", day=2),
        sub_event("canceled", "c2", "s2", day=3, reason="payment_failed"),
    )
    assert sample(store, "saas_mrr_movement", kind="reactivation", window="7d") == 10.0
    assert sample(store, "saas_mrr_movement", kind="churn", window="7d") == 30.0
    assert sample(store, "saas_mrr_movement", kind="involuntary_churn", window="7d") == 20.0
    assert sample(store, "saas_mrr") == 10.0


def test_duplicate_and_unknown_subscription() -> None:
    store = Store()
    first = started("c1", "s1", 1000)
    assert apply_all(store, first, first) == ["applied", "duplicate"]
    assert apply_all(store, sub_event("canceled", "c1", "nope")) == ["rejected"]
    assert store.processed == {"subscriptions": 1}
    assert store.count_duplicate("t:0:1:0", "subscriptions")
    assert not store.count_duplicate("t:0:1:0", "subscriptions")
    assert store.duplicates == {"subscriptions": 1}


def test_fx_rate_is_pinned_and_unknown_currency_rejected() -> None:
    store = Store()
    assert apply_all(store, started("c1", "s1", 1000, currency="EUR")) == ["rejected"]
    apply_all(
        store,
        ev("fx.rate", 0, currency="EUR", rate=1.5),
        started("c1", "s1", 1000, day=1, currency="EUR"),
    )
    apply_all(store, ev("fx.rate", 2, currency="EUR", rate=2.0))
    assert sample(store, "saas_mrr") == 15.0
    apply_all(store, sub_event("changed", "c1", "s1", day=3, amount=2000))
    assert sample(store, "saas_mrr") == 40.0  # re-pinned at the change's ts


def test_ratio_without_denominator_has_no_sample() -> None:
    store = Store()
    assert sample(store, "saas_customer_churn_rate", window="30d") is None
    assert sample(store, "saas_arpa") is None
    assert sample(store, "saas_mrr_movement", kind="churn", window="1d") == 0.0


def test_concentration_seed_example() -> None:
    """10 customers, 2 hold 90 % of MRR -> top-20 % share 0.9."""
    store = Store()
    apply_all(
        store,
        started("big1", "b1", 45000),
        started("big2", "b2", 45000),
        *(started(f"c{i}", f"s{i}", 1250) for i in range(8)),
    )
    assert sample(store, "saas_mrr_top_share", top="20pct") == pytest.approx(0.9)
    assert sample(store, "saas_mrr_top_share", top="10") == pytest.approx(1.0)
    assert sample(store, "saas_mrr_hhi") == pytest.approx(2 * 0.45**2 + 8 * 0.0125**2)


def test_unit_economics_seed_examples() -> None:
    """CAC 10 000 / 1 000 new = 10; runway 100 000 / 10 000 = 10 months."""
    store = Store()
    apply_all(store, *(started(f"c{i}", f"s{i}", 100) for i in range(1000)))
    apply_all(
        store,
        ev("spend", 1, category="marketing", amount=1_000_000, currency="USD"),
        ev("spend", 1, category="opex", amount=0, currency="USD"),
        ev("cash.balance", 1, amount=10_000_000, currency="USD"),
    )
    assert sample(store, "saas_cac", window="30d") == pytest.approx(10.0)
    assert sample(store, "saas_burn", window="30d") == pytest.approx(10_000.0)
    assert sample(store, "saas_runway_months", window="30d") == pytest.approx(10.0)
    assert sample(store, "saas_gross_margin", window="30d") is None  # no revenue


def test_payback_month_convention() -> None:
    """Payback = CAC / (ARPA x gross margin): 10 / (120 x 50 %) = 1/6 month."""
    store = Store()
    apply_all(store, started("c1", "s1", 12000))
    apply_all(
        store,
        ev("spend", 0, category="sales", amount=1000, currency="USD"),
        ev("payment.succeeded", 0, customer_id="c1", amount=20000, currency="USD"),
        ev("spend", 0, category="cogs", amount=10000, currency="USD"),
    )
    assert sample(store, "saas_gross_margin", window="30d") == pytest.approx(0.5)
    assert sample(store, "saas_cac_payback_months", window="30d") == pytest.approx(10 / 60)


def test_trials_and_conversion() -> None:
    store = Store()
    apply_all(
        store,
        ev("trial.started", 0, customer_id="c1", subscription_id="s1", plan="pro"),
        ev("trial.started", 0, customer_id="c2", subscription_id="s2", plan="pro"),
        started("c1", "s1", 1000, day=5),
        ev("trial.ended", 6, customer_id="c2", subscription_id="s2"),
    )
    assert sample(store, "saas_trials_started", window="30d") == 2
    assert sample(store, "saas_trial_conversion_rate", window="30d") == 0.5
    assert sample(store, "saas_mrr_movement", kind="new", window="30d") == 10.0


def test_window_edges_are_utc_days() -> None:
    store = Store()
    apply_all(store, started("c1", "s1", 1000, day=0), started("c2", "s2", 2000, day=29))
    assert sample(store, "saas_mrr_movement", kind="new", window="30d") == 30.0
    assert sample(store, "saas_mrr_movement", kind="new", window="1d") == 20.0
    apply_all(store, ev("lead.created", 30, lead_id="l1"))
    assert sample(store, "saas_mrr_movement", kind="new", window="30d") == 20.0


def test_rejected_change_leaves_the_subscription_untouched() -> None:
    """unknown_currency is decided before any field of the subscription changes."""
    store = Store()
    apply_all(store, started("c1", "s1", 1000, plan="pro"))
    bad = sub_event("changed", "c1", "s1", day=1, plan="team", amount=9000, currency="GBP")
    assert apply_all(store, bad) == ["rejected"]
    sub = store.customers["c1"].subscriptions["s1"]
    assert (sub.plan, sub.amount, sub.currency) == ("pro", 1000, "USD")
    assert sample(store, "saas_plan_mrr", plan="pro") == 10.0
