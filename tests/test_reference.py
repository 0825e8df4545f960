"""Hand-computed checks of the batch oracle in tests/reference/.

Every expected number below was worked out by hand from SPEC §3 and
docs/definitions.md, so the oracle can be trusted when the integration tests
compare it with the engine.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from tests.reference import approximate, compute, diff, parse_exposition, route
from tests.v2_history import V2Config, history

_ids = itertools.count()

JAN1 = "2026-01-01T00:00:00Z"
FEB1 = "2026-02-01T00:00:00Z"


def ev(type_: str, ts: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"e{next(_ids)}", "type": type_, "ts": ts, **fields}


def start(customer: str, amount: int, ts: str, sub: str | None = None, **extra: Any) -> dict:
    terms = {"plan": "pro", "currency": "USD", "interval": "month", **extra}
    return ev(
        "subscription.started",
        ts,
        customer_id=customer,
        subscription_id=sub or f"s-{customer}",
        amount=amount,
        **terms,
    )


def sub_event(type_: str, customer: str, ts: str, sub: str | None = None, **extra: Any) -> dict:
    return ev(type_, ts, customer_id=customer, subscription_id=sub or f"s-{customer}", **extra)


def run(*events: Any, **options: Any) -> dict[str, float]:
    return compute([orjson.dumps(e) for e in events], **options)


def mv(kind: str, window: str = "30d") -> str:
    return f'saas_mrr_movement{{kind="{kind}",window="{window}"}}'


def total(kind: str) -> str:
    return f'saas_mrr_movement_total{{kind="{kind}"}}'


def w30(name: str) -> str:
    return f'{name}{{window="30d"}}'


# ---------------------------------------------------------------- SPEC worked examples


def test_nrr_worked_example() -> None:
    """MRR_start 1200, churn 120, contraction 80, expansion 500 -> NRR 1.25."""
    out = run(
        start("a", 12000, JAN1),
        start("b", 48000, JAN1),
        start("c", 60000, JAN1),
        sub_event("subscription.canceled", "a", "2026-02-20T10:00:00Z"),
        sub_event("subscription.changed", "b", "2026-02-21T10:00:00Z", amount=40000),
        sub_event("subscription.changed", "c", "2026-03-01T12:00:00Z", amount=110000),
    )
    assert out["saas_mrr"] == 1500.0
    assert out["saas_paying_customers"] == 2
    assert out["saas_arpa"] == 750.0
    assert out[mv("churn")] == 120.0
    assert out[mv("contraction")] == 80.0
    assert out[mv("expansion")] == 500.0
    assert out[mv("new")] == 0.0
    assert out[mv("expansion", "1d")] == 500.0
    assert out[mv("churn", "1d")] == 0.0
    assert out[total("new")] == 1200.0
    assert out[w30("saas_nrr")] == 1.25
    assert out[w30("saas_grr")] == pytest.approx(1000 / 1200)
    assert out[w30("saas_gross_mrr_churn_rate")] == pytest.approx(200 / 1200)
    assert out[w30("saas_net_mrr_churn_rate")] == -0.25
    assert out[w30("saas_quick_ratio")] == 2.5
    assert out[w30("saas_customer_churn_rate")] == pytest.approx(1 / 3)  # C_start = 3


def test_customer_churn_rate_100_to_90() -> None:
    events = [start(f"c{i}", 1000, JAN1) for i in range(100)]
    events += [
        sub_event("subscription.canceled", f"c{i}", "2026-02-15T00:00:00Z") for i in range(10)
    ]
    out = run(*events)
    assert out["saas_paying_customers"] == 90
    assert out[w30("saas_customer_churn_rate")] == 0.10
    assert out[mv("churn")] == 100.0
    # LTV = ARPA 10 x gross margin 1 (no revenue) / churn 0.10
    assert out[w30("saas_ltv")] == pytest.approx(100.0)
    assert w30("saas_gross_margin") not in out


@pytest.mark.parametrize(
    ("interval", "amount", "mrr"),
    [
        ("year", 12000, 10.0),
        ("month", 4900, 49.0),
        ("quarter", 3000, 10.0),
        ("week", 1200, 52.0),
        ("day", 100, 365 / 12),
    ],
)
def test_interval_normalisation(interval: str, amount: int, mrr: float) -> None:
    out = run(start("a", amount, JAN1, interval=interval))
    assert out["saas_mrr"] == pytest.approx(mrr)
    assert out["saas_arr"] == pytest.approx(12 * mrr)
    assert out['saas_plan_mrr{plan="pro"}'] == pytest.approx(mrr)
    assert out['saas_plan_customers{plan="pro"}'] == 1


def test_annual_subscription_120() -> None:
    out = run(start("a", 12000, JAN1, interval="year"))
    assert out["saas_mrr"] == 10.0
    assert out["saas_arr"] == 120.0


# ---------------------------------------------------------------- rejections

OK_PAYMENT = {
    "event_id": "p1",
    "type": "payment.succeeded",
    "ts": JAN1,
    "customer_id": "c",
    "amount": 4900,
    "currency": "USD",
}
OK_START = {
    "event_id": "s1",
    "type": "subscription.started",
    "ts": JAN1,
    "customer_id": "c",
    "subscription_id": "s",
    "plan": "pro",
    "amount": 4900,
    "currency": "USD",
    "interval": "month",
}


def with_(base: dict[str, Any], **changes: Any) -> bytes:
    obj = {**base, **changes}
    return orjson.dumps({k: v for k, v in obj.items() if v is not ...})


USAGE = {
    "event_id": "u1",
    "type": "usage",
    "ts": JAN1,
    "user_id": "u",
    "customer_id": "c",
    "feature": "f",
}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b'{"event_id": "x", "amount": NaN}', "invalid_json"),
        (b'{"event_id": "x", "type": "usage"', "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b'{"a": 18446744073709551616}', "missing_field"),
        (with_(OK_PAYMENT, x="y" * (1024 * 1024)), "invalid_json"),
        (b"42", "not_an_object"),
        (b'"payment.succeeded"', "not_an_object"),
        (b"null", "not_an_object"),
        (b"[1]", "not_an_object"),
        (b"[[]]", "not_an_object"),
        (b"[]", "empty_batch"),
        (with_(OK_PAYMENT, event_id=...), "missing_field"),
        (with_(OK_PAYMENT, type=...), "missing_field"),
        (with_(OK_PAYMENT, ts=None), "missing_field"),
        (with_(OK_START, interval=...), "missing_field"),
        (with_(OK_PAYMENT, customer_id=..., amount="49"), "missing_field"),
        (with_(OK_PAYMENT, amount="49"), "wrong_type"),
        (with_(OK_PAYMENT, amount=49.0), "wrong_type"),
        (with_(OK_PAYMENT, amount=True), "wrong_type"),
        (with_(OK_START, quantity=True), "wrong_type"),
        (with_(OK_PAYMENT, event_id=5), "wrong_type"),
        (with_(OK_PAYMENT, type=5), "wrong_type"),
        (with_(OK_PAYMENT, type="frobnicate", event_id=5), "wrong_type"),
        (with_(OK_PAYMENT, customer_id=17), "wrong_type"),
        (orjson.dumps(ev("nps.response", JAN1, customer_id="c", score=9.5)), "wrong_type"),
        (with_(OK_PAYMENT, type="subscription.upgraded"), "unknown_type"),
        (with_(OK_PAYMENT, type=""), "unknown_type"),
        (b"[" + orjson.dumps(OK_PAYMENT) + b"]", "wrong_topic"),
        (with_(OK_PAYMENT, ts="2026-01-01T00:00:00"), "invalid_ts"),
        (with_(OK_PAYMENT, ts="2026-01-01 00:00:00Z"), "invalid_ts"),
        (with_(OK_PAYMENT, ts="2026-02-30T00:00:00Z"), "invalid_ts"),
        (with_(OK_PAYMENT, ts="2026-01-01T24:00:00Z"), "invalid_ts"),
        (with_(OK_PAYMENT, ts="2100-01-01T00:00:00Z"), "invalid_ts"),
        (with_(OK_PAYMENT, ts="1969-12-31T23:59:59Z"), "invalid_ts"),
        (with_(OK_PAYMENT, ts="yesterday"), "invalid_ts"),
        (with_(OK_PAYMENT, ts="yesterday", amount=-1), "invalid_ts"),
        (with_(OK_PAYMENT, event_id=""), "invalid_value"),
        (with_(OK_PAYMENT, event_id="x" * 129), "invalid_value"),
        (with_(OK_PAYMENT, customer_id=""), "invalid_value"),
        (with_(OK_PAYMENT, currency="usd"), "invalid_value"),
        (with_(OK_PAYMENT, currency="US"), "invalid_value"),
        (with_(OK_PAYMENT, currency="usd", amount=-5), "invalid_value"),
        (with_(OK_START, plan=""), "invalid_value"),
        (with_(OK_START, interval="fortnight"), "invalid_value"),
        (with_(USAGE, feature=""), "invalid_value"),
        (
            orjson.dumps(ev("spend", JAN1, category="legal", amount=1, currency="USD")),
            "invalid_value",
        ),
        (orjson.dumps(ev("nps.response", JAN1, customer_id="c", score=11)), "invalid_value"),
        (orjson.dumps(ev("fx.rate", JAN1, currency="EUR", rate=0)), "invalid_value"),
        (with_(OK_PAYMENT, amount=-1), "negative_amount"),
        (orjson.dumps(ev("cash.balance", JAN1, amount=-1, currency="USD")), "negative_amount"),
        (with_(OK_START, quantity=0, amount=-1), "negative_amount"),
        (with_(OK_START, quantity=0), "invalid_quantity"),
        (with_(OK_START, quantity=-3), "invalid_quantity"),
        (with_(OK_PAYMENT, currency="EUR"), "unknown_currency"),
        (with_(OK_START, currency="EUR"), "unknown_currency"),
        (orjson.dumps(sub_event("subscription.canceled", "c", JAN1)), "unknown_subscription"),
        (orjson.dumps(sub_event("subscription.changed", "c", JAN1)), "unknown_subscription"),
    ],
)
def test_rejection_reasons(line: bytes, reason: str) -> None:
    out = compute([line])
    assert out[f'saas_events_rejected_total{{reason="{reason}"}}'] == 1
    assert not [k for k in out if k.startswith("saas_events_rejected_total") and reason not in k]
    assert not [k for k in out if k.startswith("saas_events_processed_total")]
    assert "saas_asof_timestamp_seconds" not in out


def test_valid_samples_of_the_rejection_table_are_accepted() -> None:
    out = compute(
        [
            orjson.dumps(OK_PAYMENT),
            orjson.dumps(OK_START),
            with_(USAGE, event_id="u2", x=18446744073709551615, y=-9223372036854775808),
            with_(OK_PAYMENT, event_id="p2", invoice_id=None, ts="2026-01-01T01:00:00+01:00"),
            with_(OK_PAYMENT, event_id="p3", ts="2025-12-31t23:59:59.999999999z"),
        ]
    )
    assert out['saas_events_processed_total{topic="saas.payments"}'] == 3
    assert out['saas_events_processed_total{topic="saas.subscriptions"}'] == 1
    assert out['saas_events_processed_total{topic="saas.usage"}'] == 1
    assert not [k for k in out if k.startswith("saas_events_rejected_total")]
    assert out[w30("saas_revenue")] == 147.0


def test_state_rules_use_fx_ts_and_customer() -> None:
    out = run(
        ev("fx.rate", "2026-01-10T00:00:00Z", currency="EUR", rate=1.5),
        # no EUR rate with ts <= Jan 5 although one was already applied
        ev(
            "payment.succeeded", "2026-01-05T00:00:00Z", customer_id="c", amount=100, currency="EUR"
        ),
        start("c", 1000, JAN1),
        # the subscription exists, but for customer c, not d
        sub_event("subscription.canceled", "d", JAN1, sub="s-c"),
        start("e", 1000, "2026-01-10T00:00:00Z", currency="EUR"),
        # an amount-only change re-pins the subscription's EUR at its own ts: none yet
        sub_event("subscription.changed", "e", "2026-01-09T00:00:00Z", amount=2000),
    )
    assert out['saas_events_rejected_total{reason="unknown_currency"}'] == 2
    assert out['saas_events_rejected_total{reason="unknown_subscription"}'] == 1
    assert out["saas_mrr"] == 25.0  # 10 USD + 10 EUR x 1.5


def test_batch_elements_are_judged_alone() -> None:
    batch = [
        ev("usage", FEB1, user_id="u1", customer_id="c", feature="f"),
        ev("payment.succeeded", FEB1, customer_id="c", amount=1, currency="USD"),
        5,
        ev("visit", FEB1, visitor_id="v1"),
        ev("usage", FEB1, user_id="u2", customer_id="c", feature=""),
    ]
    out = compute([orjson.dumps(batch), b"", b"   \n"])
    assert out['saas_events_processed_total{topic="saas.usage"}'] == 2
    assert out['saas_events_rejected_total{reason="wrong_topic"}'] == 1
    assert out['saas_events_rejected_total{reason="not_an_object"}'] == 1
    assert out['saas_events_rejected_total{reason="invalid_value"}'] == 1
    assert out[w30("saas_unique_visitors")] == 1
    assert out['saas_active_users{window="1d"}'] == 1


# ---------------------------------------------------------------- duplicates


def test_duplicates_count_once() -> None:
    first = start("a", 5000, JAN1)
    again = {**first, "amount": 9900}  # same event_id, other payload: still a duplicate
    malformed = {**first, "amount": -1}
    state_bad = {**first, "currency": "EUR"}  # duplicate check precedes unknown_currency
    out = run(first, again, malformed, state_bad)
    assert out["saas_mrr"] == 50.0
    assert out[total("new")] == 50.0
    assert out['saas_events_processed_total{topic="saas.subscriptions"}'] == 1
    assert out['saas_events_duplicate_total{topic="saas.subscriptions"}'] == 2
    assert out['saas_events_rejected_total{reason="negative_amount"}'] == 1
    assert 'saas_events_rejected_total{reason="unknown_currency"}' not in out


def test_rejected_event_id_may_arrive_again_valid() -> None:
    bad = {**OK_PAYMENT, "amount": "49"}
    out = run(bad, OK_PAYMENT, OK_PAYMENT)
    assert out['saas_events_rejected_total{reason="wrong_type"}'] == 1
    assert out['saas_events_processed_total{topic="saas.payments"}'] == 1
    assert out['saas_events_duplicate_total{topic="saas.payments"}'] == 1
    assert out[w30("saas_revenue")] == 49.0


def test_duplicate_inside_batch_and_prefix() -> None:
    visit = ev("visit", FEB1, visitor_id="v1")
    out = run([visit, visit], prefix="acme.")
    assert out['saas_events_processed_total{topic="acme.usage"}'] == 1
    assert out['saas_events_duplicate_total{topic="acme.usage"}'] == 1


# ---------------------------------------------------------------- currencies


def test_fx_rate_is_pinned() -> None:
    out = run(
        ev("fx.rate", JAN1, currency="EUR", rate=1.1),
        start("a", 10000, "2026-01-02T00:00:00Z", currency="EUR"),  # 100 EUR -> 110 USD
        ev("fx.rate", "2026-01-03T00:00:00Z", currency="EUR", rate=1.2),
    )
    assert out["saas_mrr"] == pytest.approx(110.0)
    assert out[total("expansion")] == 0.0
    assert out[total("contraction")] == 0.0


def test_fx_changed_amount_repins_plan_only_keeps() -> None:
    out = run(
        ev("fx.rate", JAN1, currency="EUR", rate=1.1),
        start("a", 10000, "2026-01-02T00:00:00Z", currency="EUR"),
        ev("fx.rate", "2026-01-03T00:00:00Z", currency="EUR", rate=1.2),
        sub_event("subscription.changed", "a", "2026-01-04T00:00:00Z", amount=20000),  # 240
        ev("fx.rate", "2026-01-05T00:00:00Z", currency="EUR", rate=1.5),
        sub_event("subscription.changed", "a", "2026-01-06T00:00:00Z", plan="max"),
    )
    assert out["saas_mrr"] == pytest.approx(240.0)
    assert out[total("expansion")] == pytest.approx(130.0)
    assert out['saas_plan_mrr{plan="max"}'] == pytest.approx(240.0)
    assert 'saas_plan_mrr{plan="pro"}' not in out


@pytest.mark.parametrize(
    ("currency", "rate", "amount", "mrr"),
    [
        ("JPY", 0.01, 5000, 50.0),  # exponent 0: 5000 yen
        ("KWD", 3, 10000, 30.0),  # exponent 3: 10.000 dinar
        ("EUR", 2, 10000, 200.0),  # exponent 2
    ],
)
def test_minor_unit_exponents(currency: str, rate: float, amount: int, mrr: float) -> None:
    out = run(
        ev("fx.rate", JAN1, currency=currency, rate=rate),
        start("a", amount, JAN1, currency=currency),
    )
    assert out["saas_mrr"] == pytest.approx(mrr, rel=1e-12)


def test_fx_uses_rate_by_ts_not_file_order() -> None:
    out = run(
        ev("fx.rate", FEB1, currency="EUR", rate=2),
        ev("fx.rate", JAN1, currency="EUR", rate=1),
        ev("fx.rate", JAN1, currency="EUR", rate=3),  # same ts, applied last: wins
        ev(
            "payment.succeeded",
            "2026-01-15T00:00:00Z",
            customer_id="c",
            amount=10000,
            currency="EUR",
        ),
        ev(
            "payment.succeeded",
            "2026-02-02T00:00:00Z",
            customer_id="c",
            amount=10000,
            currency="EUR",
        ),
    )
    assert out[w30("saas_revenue")] == 300.0 + 200.0


def test_reporting_currency_option() -> None:
    out = run(
        ev("fx.rate", JAN1, currency="EUR", rate=7),  # the reporting currency: ignored
        ev("fx.rate", JAN1, currency="USD", rate=0.5),
        start("a", 10000, JAN1, currency="EUR"),
        start("b", 10000, JAN1, currency="USD"),
        currency="EUR",
    )
    assert out["saas_mrr"] == 150.0


# ---------------------------------------------------------------- subscription life


def test_pause_resume_is_churn_then_reactivation() -> None:
    out = run(
        start("a", 5000, JAN1),
        sub_event("subscription.paused", "a", "2026-02-10T00:00:00Z"),
        sub_event("subscription.paused", "a", "2026-02-11T00:00:00Z"),
        sub_event("subscription.resumed", "a", "2026-02-20T00:00:00Z"),
        sub_event("subscription.resumed", "a", "2026-02-21T00:00:00Z"),
    )
    assert out["saas_mrr"] == 50.0
    assert out[total("new")] == 50.0
    assert out[total("churn")] == 50.0
    assert out[total("reactivation")] == 50.0
    assert out[mv("reactivation")] == 50.0
    assert out[mv("new")] == 0.0
    assert out[w30("saas_customer_churn_rate")] == 1.0  # C_start = 1 - (0 + 1 - 1)
    assert out[w30("saas_nrr")] == 0.0  # MRR_start 50, churn 50; reactivation not in NRR
    assert out[w30("saas_net_mrr_churn_rate")] == 0.0


def test_cancel_is_final_until_restart() -> None:
    out = run(
        start("a", 5000, JAN1),
        sub_event("subscription.canceled", "a", "2026-01-05T00:00:00Z"),
        sub_event("subscription.resumed", "a", "2026-01-06T00:00:00Z"),
        sub_event("subscription.changed", "a", "2026-01-07T00:00:00Z", amount=7000),
        start("a", 3000, "2026-01-08T00:00:00Z"),
        start("b", 1000, "2026-01-08T00:00:00Z"),
    )
    assert out["saas_mrr"] == 40.0
    assert out[total("new")] == 60.0
    assert out[total("churn")] == 50.0
    assert out[total("reactivation")] == 30.0


def test_involuntary_churn() -> None:
    out = run(
        start("a", 3000, JAN1),
        start("b", 2000, JAN1, sub="b1"),
        start("b", 1000, JAN1, sub="b2"),
        start("c", 500, JAN1),
        sub_event("subscription.canceled", "a", FEB1, reason="payment_failed"),
        sub_event("subscription.canceled", "b", FEB1, sub="b1", reason="payment_failed"),
        sub_event("subscription.canceled", "c", FEB1, reason="too_expensive"),
    )
    assert out[mv("churn")] == 35.0
    assert out[mv("involuntary_churn")] == 30.0
    assert out[mv("contraction")] == 20.0
    assert out[total("involuntary_churn")] == 30.0
    assert out["saas_mrr"] == 10.0


def test_trials_and_conversions() -> None:
    old = "2025-12-01T00:00:00Z"  # outside the 30-day window ending Feb 1
    out = run(
        sub_event("trial.started", "t0", old, plan="pro"),
        *[
            sub_event("trial.started", f"t{i}", "2026-01-20T00:00:00Z", plan="pro")
            for i in (1, 2, 3, 4)
        ],
        start("t0", 1000, "2026-01-25T00:00:00Z"),  # converted in W, trial started before W
        start("t1", 1000, "2026-01-25T00:00:00Z"),
        start("t2", 1000, "2026-01-25T00:00:00Z"),
        sub_event("trial.ended", "t3", "2026-01-26T00:00:00Z"),
        sub_event("subscription.canceled", "t1", "2026-01-27T00:00:00Z"),
        start("t1", 1000, "2026-01-28T00:00:00Z"),  # a restart, not a second conversion
        sub_event("subscription.paused", "t4", FEB1),  # a trial paused: accepted, MRR 0
    )
    assert out[w30("saas_trials_started")] == 4
    assert out[w30("saas_trial_conversion_rate")] == 0.75  # 3 / (3 + 1)
    assert out["saas_mrr"] == 30.0
    assert out[total("reactivation")] == 10.0


# ---------------------------------------------------------------- windows


def test_day_boundaries() -> None:
    out = run(
        start("e", 8000, "2026-01-30T23:59:59Z"),  # just before the 30-day window
        start("d", 16000, "2026-01-31T00:00:00Z"),  # first second of it
        start("a", 1000, "2026-02-28T23:59:59Z"),
        start("c", 4000, "2026-03-01T00:30:00+01:00"),  # = Feb 28 23:30 UTC
        start("b", 2000, "2026-03-01T00:00:00Z"),  # T
    )
    assert out[mv("new", "1d")] == 20.0
    assert out[mv("new", "7d")] == 70.0
    assert out[mv("new", "30d")] == 230.0
    assert out[mv("new", "90d")] == 310.0
    assert out["saas_asof_timestamp_seconds"] == 1772323200.0


@pytest.mark.parametrize(
    ("ts", "dau", "wau", "mau"),
    [
        ("2026-03-31T00:00:00Z", 1, 1, 1),
        ("2026-03-30T23:59:59Z", 0, 1, 1),
        ("2026-03-25T00:00:00Z", 0, 1, 1),
        ("2026-03-24T23:59:59Z", 0, 0, 1),
        ("2026-03-02T00:00:00Z", 0, 0, 1),
        ("2026-03-01T23:59:59Z", 0, 0, 0),
        ("2026-03-31T01:00:00+02:00", 0, 1, 1),
    ],
)
def test_activity_window_edges(ts: str, dau: int, wau: int, mau: int) -> None:
    out = run(
        ev("usage", ts, user_id="u", customer_id="c", feature="f"),
        ev("visit", "2026-03-31T23:59:59Z", visitor_id="v"),  # sets T
    )
    assert out['saas_active_users{window="1d"}'] == dau
    assert out['saas_active_users{window="7d"}'] == wau
    assert out['saas_active_users{window="30d"}'] == mau
    assert ('saas_feature_active_users{feature="f",window="30d"}' in out) == bool(mau)


def test_dau_wau_mau_features_and_visitors() -> None:
    day = "2026-03-{:02d}T12:00:00Z".format
    usage = [
        ("u1", 31, "reports"),
        ("u1", 31, "reports"),
        ("u2", 28, "reports"),
        ("u3", 25, "reports"),
        ("u4", 10, "export"),
        ("u5", 2, "api"),
        ("u6", 1, "api"),  # outside the 30-day window
    ]
    batch = [ev("usage", day(d), user_id=u, customer_id="c", feature=f) for u, d, f in usage]
    visits = [ev("visit", day(d), visitor_id=v) for v, d in [("v1", 3), ("v1", 4), ("v2", 5)]]
    out = run(batch, visits, ev("visit", day(1), visitor_id="v3"), max_features=2)
    assert out['saas_active_users{window="1d"}'] == 1
    assert out['saas_active_users{window="7d"}'] == 3
    assert out['saas_active_users{window="30d"}'] == 5
    assert out["saas_stickiness"] == 0.2
    assert out[w30("saas_unique_visitors")] == 2
    # kept: reports (3 users), api (1, wins the tie with export by name); export -> other
    assert out['saas_feature_active_users{feature="reports",window="7d"}'] == 3
    assert out['saas_feature_active_users{feature="reports",window="1d"}'] == 1
    assert out['saas_feature_active_users{feature="api",window="30d"}'] == 1
    assert out['saas_feature_active_users{feature="api",window="1d"}'] == 0
    assert out['saas_feature_active_users{feature="other",window="30d"}'] == 1
    assert 'saas_feature_active_users{feature="export",window="30d"}' not in out
    assert out['saas_feature_adoption{feature="reports"}'] == 0.6
    assert out['saas_feature_adoption{feature="other"}'] == 0.2
    assert len([k for k in out if k.startswith("saas_feature_active_users")]) == 9


def test_other_feature_is_a_union_not_a_sum() -> None:
    pairs = [("u1", "x"), ("u2", "x"), ("u2", "y"), ("u3", "y"), ("u2", "z")]
    out = run(
        [ev("usage", FEB1, user_id=u, customer_id="c", feature=f) for u, f in pairs], max_features=1
    )
    assert out['saas_feature_active_users{feature="x",window="30d"}'] == 2
    assert out['saas_feature_active_users{feature="other",window="30d"}'] == 2  # {u2, u3}
    assert 'saas_feature_active_users{feature="y",window="30d"}' not in out


def test_at_risk_customers() -> None:
    out = run(
        start("a", 1000, JAN1),
        start("b", 1000, JAN1),
        start("c", 1000, JAN1),
        ev("usage", "2026-03-18T00:00:00Z", user_id="ua", customer_id="a", feature="f"),
        ev("usage", "2026-03-17T23:59:59Z", user_id="ub", customer_id="b", feature="f"),
        ev("usage", "2026-03-31T00:00:00Z", user_id="ud", customer_id="d", feature="f"),
    )
    assert out["saas_at_risk_customers"] == 2  # b (too old) and c (never); d does not pay


# ---------------------------------------------------------------- ratios


def test_empty_input_exports_zeros_only() -> None:
    expected = {"saas_mrr": 0.0, "saas_arr": 0.0, "saas_paying_customers": 0.0}
    kinds = ("new", "expansion", "contraction", "churn", "reactivation", "involuntary_churn")
    for kind in kinds:
        expected[total(kind)] = 0.0
        for window in ("1d", "7d", "30d", "90d"):
            expected[mv(kind, window)] = 0.0
    for window in ("1d", "7d", "30d"):
        expected[f'saas_active_users{{window="{window}"}}'] = 0.0
    for name in (
        "saas_revenue",
        "saas_burn",
        "saas_unique_visitors",
        "saas_trials_started",
        "saas_leads",
        "saas_tickets_opened",
        "saas_tickets_resolved",
        "saas_signups",
    ):
        expected[w30(name)] = 0.0
    expected["saas_at_risk_customers"] = 0.0
    expected["saas_committed_mrr"] = expected["saas_pending_cancellations"] = 0.0
    assert compute([]) == expected
    assert compute([b"", b"\n"]) == expected


def test_ratios_absent_on_zero_denominators() -> None:
    out = run(start("a", 1000, JAN1), start("b", 1000, JAN1))
    for name in (
        "saas_customer_churn_rate",  # C_start = 2 - 2 = 0
        "saas_nrr",  # MRR_start = 0
        "saas_grr",
        "saas_gross_mrr_churn_rate",
        "saas_net_mrr_churn_rate",
        "saas_quick_ratio",  # no churn, no contraction
        "saas_ltv",
        "saas_ltv_cac_ratio",
        "saas_gross_margin",
        "saas_runway_months",
        "saas_trial_conversion_rate",
        "saas_lead_conversion_rate",
    ):
        assert w30(name) not in out, name
    assert "saas_stickiness" not in out
    assert 'saas_nps{window="90d"}' not in out
    assert out[w30("saas_cac")] == 0.0  # two new customers, no spend
    assert out[w30("saas_cac_payback_months")] == 0.0
    assert out[w30("saas_tickets_per_customer")] == 0.0


@pytest.mark.parametrize(
    ("cents", "top20", "top10", "hhi"),
    [
        ([45000, 45000] + [1250] * 8, 0.9, 1.0, 0.40625),
        ([k * 100 for k in range(1, 13)], 33 / 78, 75 / 78, 650 / 78**2),  # top ceil(2.4) = 3
        ([700], 1.0, 1.0, 1.0),
    ],
)
def test_concentration(cents: list[int], top20: float, top10: float, hhi: float) -> None:
    out = run(*[start(f"c{i}", c, JAN1) for i, c in enumerate(cents)])
    assert out['saas_mrr_top_share{top="20pct"}'] == pytest.approx(top20)
    assert out['saas_mrr_top_share{top="10"}'] == pytest.approx(top10)
    assert out["saas_mrr_hhi"] == pytest.approx(hhi)


def test_no_concentration_without_paying_customers() -> None:
    out = run(start("a", 0, JAN1))
    assert not [k for k in out if k.startswith(("saas_mrr_top_share", "saas_mrr_hhi"))]
    assert "saas_arpa" not in out
    assert not [k for k in out if k.startswith("saas_plan_")]


def test_cac_margin_payback_burn() -> None:
    ts = "2026-01-20T00:00:00Z"
    money = {"currency": "USD"}
    out = run(
        *[start(f"c{i}", 100, ts) for i in range(1000)],
        ev("spend", ts, category="sales", amount=600000, **money),
        ev("spend", ts, category="marketing", amount=400000, **money),
        ev("spend", ts, category="cogs", amount=30000, **money),
        ev("spend", "2025-12-01T00:00:00Z", category="marketing", amount=999999, **money),
        ev("payment.succeeded", ts, customer_id="c1", amount=200000, **money),
        ev("payment.refunded", ts, customer_id="c1", amount=50000, **money),
        ev("payment.failed", ts, customer_id="c1", amount=99999, **money),
        *[ev("lead.created", ts, lead_id=f"l{i}") for i in range(2000)],
    )
    assert out[w30("saas_cac")] == 10.0
    assert out[w30("saas_revenue")] == 1500.0
    assert out[w30("saas_gross_margin")] == 0.8
    assert out[w30("saas_cac_payback_months")] == 12.5  # 10 / (1.00 x 0.8)
    assert out[w30("saas_burn")] == 8800.0  # 10300 spend - 1500 revenue
    assert out[w30("saas_leads")] == 2000
    assert out[w30("saas_lead_conversion_rate")] == 0.5
    assert w30("saas_runway_months") not in out  # no balance known


def test_runway_uses_latest_balance() -> None:
    money = {"currency": "USD"}
    out = run(
        ev("cash.balance", FEB1, amount=10000000, **money),
        ev("cash.balance", JAN1, amount=1, **money),  # older ts: not the latest
        ev("spend", "2026-02-10T00:00:00Z", category="opex", amount=1000000, **money),
    )
    assert out[w30("saas_burn")] == 10000.0
    assert out[w30("saas_runway_months")] == 10.0


def test_no_runway_without_burn() -> None:
    money = {"currency": "USD"}
    out = run(
        ev("cash.balance", FEB1, amount=10000000, **money),
        ev("spend", FEB1, category="opex", amount=1000, **money),
        ev("payment.succeeded", FEB1, customer_id="c", amount=1000, **money),
    )
    assert out[w30("saas_burn")] == 0.0
    assert w30("saas_runway_months") not in out


def test_ltv_and_ltv_cac() -> None:
    money = {"currency": "USD"}
    out = run(
        *[start(f"c{i}", 10000, "2025-12-01T00:00:00Z") for i in range(4)],
        sub_event("subscription.canceled", "c0", FEB1),
        start("n", 10000, FEB1),
        ev("spend", FEB1, category="sales", amount=50000, **money),
        ev("payment.succeeded", FEB1, customer_id="c1", amount=10000, **money),
        ev("spend", FEB1, category="cogs", amount=2500, **money),
    )
    # ARPA 100, margin 0.75, churn 1/4 (C_start = 4 - (1 - 1)) -> LTV 300; CAC 500
    assert out[w30("saas_customer_churn_rate")] == 0.25
    assert out[w30("saas_ltv")] == 300.0
    assert out[w30("saas_cac")] == 500.0
    assert out[w30("saas_ltv_cac_ratio")] == 0.6
    assert out[w30("saas_cac_payback_months")] == pytest.approx(500 / 75)


def test_nps_and_tickets() -> None:
    scores = [10, 10, 9, 9, 9, 8, 7, 6, 0, 8]
    out = run(
        *[ev("nps.response", FEB1, customer_id="c", score=s) for s in scores],
        ev("nps.response", "2025-11-01T00:00:00Z", customer_id="c", score=0),  # > 90 days
        start("a", 1000, JAN1),
        start("b", 1000, JAN1),
        *[ev("ticket.opened", FEB1, customer_id="a") for _ in range(3)],
        ev("ticket.opened", "2025-12-01T00:00:00Z", customer_id="a"),
    )
    assert out['saas_nps{window="90d"}'] == 30.0  # 50 % promoters - 20 % detractors
    assert out[w30("saas_tickets_per_customer")] == 1.5


# ---------------------------------------------------------------- routing and comparing


@pytest.mark.parametrize(
    ("value", "topic"),
    [
        (b"[]", "usage"),
        ([{"type": "payment.succeeded"}], "usage"),
        ({"type": "payment.refunded"}, "payments"),
        (b'{"type": "trial.ended"}', "subscriptions"),
        ('{"type": "subscription.paused"}', "subscriptions"),
        ({"type": "visit"}, "usage"),
        ({"type": "fx.rate"}, "business"),
        ({"type": "subscription.upgraded"}, "business"),
        ({"type": 5}, "business"),
        ({}, "business"),
        (b"{oops", "business"),
        (b"42", "business"),
    ],
)
def test_route(value: Any, topic: str) -> None:
    assert route(value) == topic


def test_parse_exposition_matches_compute_keys() -> None:
    registry = CollectorRegistry()
    movement = Gauge("saas_mrr_movement", "m", ["window", "kind"], registry=registry)
    movement.labels(window="30d", kind="churn").set(1.5)
    processed = Counter("saas_events_processed", "p", ["topic"], registry=registry)
    processed.labels(topic="saas.usage").inc(3)
    plans = Gauge("saas_plan_mrr", "p", ["plan"], registry=registry)
    plans.labels(plan='odd "plan"\\x').set(2)
    Gauge("saas_mrr", "m", registry=registry).set(1e6)
    Gauge("other_metric", "o", registry=registry).set(7)
    text = generate_latest(registry).decode()
    assert parse_exposition(text) == {
        'saas_mrr_movement{kind="churn",window="30d"}': 1.5,
        'saas_events_processed_total{topic="saas.usage"}': 3.0,
        'saas_plan_mrr{plan="odd \\"plan\\"\\\\x"}': 2.0,
        "saas_mrr": 1e6,
    }
    out = run(start("a", 100, JAN1, plan='odd "plan"\\x'))
    assert 'saas_plan_mrr{plan="odd \\"plan\\"\\\\x"}' in out


def test_diff() -> None:
    expected = {"saas_a": 1.0, "saas_b": 2.0, "saas_c": 3.0, 'saas_kpi_target{kpi="x"}': 1.0}
    actual = {"saas_a": 1.0 + 1e-12, "saas_b": 2.5, "saas_d": 4.0, 'saas_kpi_target{kpi="y"}': 1.0}
    assert diff(expected, actual) == [
        "different saas_b: expected 2.0, got 2.5",
        "missing saas_c (expected 3.0)",
        "extra saas_d = 4.0",
    ]
    assert diff(expected, expected) == []


# ---------------------------------------------------------------- SPEC v2


def mar(day: int, hour: int = 0) -> str:
    return f"2026-03-{day:02d}T{hour:02d}:00:00Z"


def seg(name: str, dimension: str, segment: str, window: bool = False) -> str:
    extra = ',window="30d"' if window else ""
    return f'{name}{{dimension="{dimension}",segment="{segment}"{extra}}}'


def updated(customer: str, ts: str, **attributes: Any) -> dict[str, Any]:
    return ev("customer.updated", ts, customer_id=customer, **attributes)


def cohort(name: str, month: str, age: int | None = None) -> str:
    if age is None:
        return f'{name}{{cohort="{month}"}}'
    return f'{name}{{age="{age}",cohort="{month}"}}'


V2_BASE = {"customer_id": "c", "ticket_id": "t"}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (ev("customer.updated", JAN1), "missing_field"),
        (ev("customer.updated", JAN1, customer_id="c", country=49), "wrong_type"),
        (ev("customer.updated", JAN1, customer_id="c", channel=["ads"]), "wrong_type"),
        (ev("customer.updated", JAN1, customer_id="c", country="de"), "invalid_value"),
        (ev("customer.updated", JAN1, customer_id="c", country="DEU"), "invalid_value"),
        (ev("customer.updated", JAN1, customer_id="c", country=""), "invalid_value"),
        (ev("customer.updated", JAN1, customer_id="c", channel=""), "invalid_value"),
        (ev("customer.updated", JAN1, customer_id="c", channel="x" * 65), "invalid_value"),
        (ev("customer.updated", JAN1, customer_id=""), "invalid_value"),
        (sub_event("subscription.changed", "c", JAN1, cancel_at_period_end=1), "wrong_type"),
        (sub_event("subscription.changed", "c", JAN1, cancel_at_period_end="true"), "wrong_type"),
        (ev("ticket.replied", JAN1, customer_id="c"), "missing_field"),
        (ev("ticket.resolved", JAN1, ticket_id="t"), "missing_field"),
        (ev("ticket.replied", JAN1, customer_id="c", ticket_id=7), "wrong_type"),
        (ev("ticket.opened", JAN1, customer_id="c", ticket_id=""), "invalid_value"),
        (ev("ticket.opened", JAN1, customer_id="c", ticket_id=["t"]), "wrong_type"),
        (ev("ticket.replied", JAN1, **V2_BASE), "unknown_ticket"),
        (ev("ticket.resolved", JAN1, **V2_BASE), "unknown_ticket"),
        (ev("csat.response", JAN1, customer_id="c", score=0), "invalid_value"),
        (ev("csat.response", JAN1, customer_id="c", score=6), "invalid_value"),
        (ev("csat.response", JAN1, customer_id="c", score=4.0), "wrong_type"),
        (ev("csat.response", JAN1, customer_id="c"), "missing_field"),
        (ev("signup", JAN1), "missing_field"),
        (ev("signup", JAN1, user_id="u", channel=5), "wrong_type"),
        (ev("spend", JAN1, category="sales", amount=1, currency="USD", channel=5), "wrong_type"),
    ],
)
def test_v2_rejection_reasons(event: dict[str, Any], reason: str) -> None:
    out = run(event)
    assert out[f'saas_events_rejected_total{{reason="{reason}"}}'] == 1
    assert not [k for k in out if k.startswith("saas_events_processed_total")]


def test_v2_valid_events_and_their_topics() -> None:
    out = run(
        updated("c", JAN1, country="DE", channel="x" * 64),
        updated("c", JAN1, country=None, channel=None),  # null = absent
        start("c", 1000, JAN1),
        sub_event("subscription.changed", "c", JAN1, cancel_at_period_end=False),
        sub_event("subscription.changed", "c", JAN1, cancel_at_period_end=None),
        ev("ticket.opened", JAN1, customer_id="c"),
        ev("csat.response", JAN1, customer_id="c", score=1),
        ev("signup", JAN1, user_id="u", channel=""),  # no length rule on signup channel
        ev("spend", JAN1, category="sales", amount=1, currency="USD", channel=""),
    )
    assert out['saas_events_processed_total{topic="saas.subscriptions"}'] == 5
    assert out['saas_events_processed_total{topic="saas.business"}'] == 4
    assert not [k for k in out if k.startswith("saas_events_rejected_total")]
    assert out[seg("saas_segment_mrr", "country", "DE")] == 10.0


def test_unknown_ticket_is_checked_after_the_duplicate_check() -> None:
    opened = ev("ticket.opened", JAN1, **V2_BASE)
    resolved = ev("ticket.resolved", FEB1, **V2_BASE)
    out = run(opened, resolved, resolved, {**resolved, "event_id": "again"})
    assert out['saas_events_duplicate_total{topic="saas.business"}'] == 1
    assert out['saas_events_rejected_total{reason="unknown_ticket"}'] == 1  # already resolved
    assert out[w30("saas_tickets_resolved")] == 1


def test_cohort_triangle() -> None:
    out = run(
        start("f", 1000, "2025-03-31T23:59:59Z"),  # month(T) - 12: not exported
        start("e", 1000, "2025-04-30T23:00:00Z"),  # month(T) - 11
        start("h", 10000, "2025-12-05T00:00:00Z"),
        sub_event("subscription.canceled", "h", "2025-12-06T00:00:00Z"),
        start("h", 10000, FEB1),  # a reactivation: h stays in cohort 2025-12
        start("a", 10000, "2026-01-10T00:00:00Z"),
        start("b", 10000, "2026-01-20T00:00:00Z"),
        sub_event("subscription.changed", "a", "2026-02-05T00:00:00Z", amount=15000),
        sub_event("subscription.canceled", "a", mar(3)),
        start("c", 20000, "2026-02-10T00:00:00Z"),
        sub_event("subscription.changed", "c", "2026-02-20T00:00:00Z", amount=10000),
        start("d", 5000, mar(1)),
        ev("visit", mar(15), visitor_id="v"),  # T = 2026-03-15
    )
    sizes = {k: v for k, v in out.items() if k.startswith("saas_cohort_customers")}
    assert sizes == {
        cohort("saas_cohort_customers", m): 1.0
        for m in ("2025-04", "2025-12", "2026-02", "2026-03")
    } | {cohort("saas_cohort_customers", "2026-01"): 2.0}
    logo = {a: out[cohort("saas_cohort_logo_retention", "2026-01", a)] for a in range(3)}
    mrr = {a: out[cohort("saas_cohort_mrr_retention", "2026-01", a)] for a in range(3)}
    assert logo == {0: 1.0, 1: 1.0, 2: 0.5}
    assert mrr == {0: 1.0, 1: 1.25, 2: 0.5}  # (100+100), (150+100), (0+100) over 200
    assert out[cohort("saas_cohort_mrr_retention", "2026-02", 1)] == 1.0  # 200-100 at end of Feb
    assert out[cohort("saas_cohort_logo_retention", "2026-03", 0)] == 1.0
    assert cohort("saas_cohort_logo_retention", "2026-03", 1) not in out
    # h churned inside its first month: logo 0 then 1 after the reactivation, no MRR base
    assert [out[cohort("saas_cohort_logo_retention", "2025-12", a)] for a in range(4)] == [
        0.0,
        0.0,
        1.0,
        1.0,
    ]
    assert not [k for k in out if k.startswith("saas_cohort_mrr_retention") and "2025-12" in k]
    assert out[cohort("saas_cohort_logo_retention", "2025-04", 11)] == 1.0
    assert cohort("saas_cohort_logo_retention", "2025-04", 12) not in out
    assert len([k for k in out if k.startswith("saas_cohort_logo_retention")]) == 12 + 4 + 3 + 2 + 1


def test_customer_changing_country_takes_its_history_along() -> None:
    out = run(
        updated("x", JAN1, country="DE"),
        updated("z", JAN1, country="DE"),
        updated("y", JAN1, country="FR"),
        start("y", 20000, JAN1),
        start("z", 8000, JAN1),
        start("x", 10000, mar(10)),
        sub_event("subscription.changed", "y", mar(12), amount=25000),
        sub_event("subscription.canceled", "z", mar(15)),
        updated("x", mar(20), country="FR"),
        updated("x", mar(25), channel="ads"),  # country stays FR (sticky)
        ev("spend", mar(20), category="sales", amount=3000, currency="USD", channel="ads"),
        ev("spend", mar(20), category="marketing", amount=2000, currency="USD", channel="ads"),
        ev("spend", mar(20), category="cogs", amount=500, currency="USD", channel="ads"),
        ev("spend", mar(20), category="sales", amount=10000, currency="USD", channel="seo"),
        ev("visit", mar(31), visitor_id="v"),
    )
    assert out[seg("saas_segment_mrr", "country", "FR")] == 350.0
    assert out[seg("saas_segment_paying_customers", "country", "FR")] == 2
    assert out[seg("saas_segment_new_customers", "country", "FR", True)] == 1
    # C_start = 2 - (1 new + 0 - 0) = 1; MRR_start = 350 - (100 + 50) = 200
    assert out[seg("saas_segment_customer_churn_rate", "country", "FR", True)] == 0.0
    assert out[seg("saas_segment_nrr", "country", "FR", True)] == 1.25
    # DE keeps only z, which churned in the window: C_start 1, MRR_start 80
    assert out[seg("saas_segment_mrr", "country", "DE")] == 0.0
    assert out[seg("saas_segment_new_customers", "country", "DE", True)] == 0
    assert out[seg("saas_segment_customer_churn_rate", "country", "DE", True)] == 1.0
    assert out[seg("saas_segment_nrr", "country", "DE", True)] == 0.0
    # channel: x in ads (C_start 0, MRR_start 0: no ratios), y and z unknown
    assert out[seg("saas_segment_mrr", "channel", "ads")] == 100.0
    assert seg("saas_segment_customer_churn_rate", "channel", "ads", True) not in out
    assert seg("saas_segment_nrr", "channel", "ads", True) not in out
    assert out[seg("saas_segment_cac", "channel", "ads", True)] == 50.0  # sales + marketing / 1
    assert out[seg("saas_segment_mrr", "channel", "unknown")] == 250.0
    assert out[seg("saas_segment_customer_churn_rate", "channel", "unknown", True)] == 0.5
    assert out[seg("saas_segment_nrr", "channel", "unknown", True)] == pytest.approx(250 / 280)
    assert seg("saas_segment_cac", "channel", "unknown", True) not in out
    assert not [k for k in out if 'segment="seo"' in k]
    for dimension in ("country", "channel"):  # segments sum to the totals
        mrr = sum(
            v for k, v in out.items() if k.startswith(f'saas_segment_mrr{{dimension="{dimension}"')
        )
        assert mrr == out["saas_mrr"]


def test_segment_cap_merges_the_rest_into_other() -> None:
    out = run(
        *[updated(c, JAN1, channel=c) for c in ("ads", "blog", "cold", "direct", "events")],
        start("ads", 30000, mar(2)),
        start("blog", 20000, mar(2)),
        start("cold", 20000, mar(2)),  # ties with blog, loses by name
        start("direct", 1000, mar(2)),
        sub_event("subscription.canceled", "direct", mar(3)),  # MRR 0, but moved in W
        sub_event("trial.started", "events", mar(3), plan="pro"),  # no MRR, no movement
        *[
            ev("spend", mar(4), category=cat, amount=amount, currency="USD", channel=channel)
            for cat, amount, channel in [
                ("sales", 6000, "ads"),
                ("marketing", 4000, "blog"),
                ("sales", 1000, "cold"),
                ("marketing", 500, "direct"),
                ("sales", 100000, "events"),  # not a segment: counted nowhere
                ("sales", 700, None),
            ]
        ],
        max_segments=2,
    )
    segments = {k.split('segment="')[1].split('"')[0] for k in out if 'dimension="channel"' in k}
    assert segments == {"ads", "blog", "other"}
    assert out[seg("saas_segment_mrr", "channel", "other")] == 200.0
    assert out[seg("saas_segment_paying_customers", "channel", "other")] == 1
    assert out[seg("saas_segment_new_customers", "channel", "other", True)] == 2
    # C_start(other) = 1 paying - (2 new - 1 churn) = 0: no churn rate
    assert seg("saas_segment_customer_churn_rate", "channel", "other", True) not in out
    assert out[seg("saas_segment_cac", "channel", "ads", True)] == 60.0
    assert out[seg("saas_segment_cac", "channel", "blog", True)] == 40.0
    assert out[seg("saas_segment_cac", "channel", "other", True)] == 7.5  # (10 + 5) / 2
    assert out[seg("saas_segment_mrr", "country", "unknown")] == 700.0


def test_unknown_merged_into_other_and_its_spend() -> None:
    """`unknown` ranks like any segment; merged, its customers count in `other`'s CAC
    denominator, but a spend tagged "unknown" is in no channel's CAC."""
    out = run(
        *[updated(f"c{i}", JAN1, channel=f"ch{i}") for i in range(3)],
        *[start(f"c{i}", 10000 * (i + 1), mar(2)) for i in range(3)],
        start("u", 500, mar(2)),  # no channel: "unknown", the smallest MRR
        ev("spend", mar(3), category="sales", amount=7000, currency="USD", channel="ch0"),
        ev("spend", mar(3), category="sales", amount=5000, currency="USD", channel="unknown"),
        max_segments=2,
    )
    assert out[seg("saas_segment_mrr", "channel", "other")] == 105.0  # ch0 100 + unknown 5
    assert out[seg("saas_segment_new_customers", "channel", "other", True)] == 2
    assert out[seg("saas_segment_cac", "channel", "other", True)] == 35.0  # 70 / 2


def test_a_segment_literally_named_other_joins_the_merged_one() -> None:
    """Reading: with an overflow, a channel named "other" is merged with the rest,
    so that the segments still sum to the totals."""
    out = run(
        *[updated(f"c{i}", JAN1, channel=f"ch{i}") for i in range(3)],
        updated("o", JAN1, channel="other"),
        *[start(f"c{i}", 1000 * (i + 1), mar(2)) for i in range(3)],
        start("o", 9000, mar(2)),  # the largest segment
        max_segments=2,
    )
    segments = {k.split('segment="')[1].split('"')[0] for k in out if "saas_segment_mrr{" in k}
    assert segments >= {"other", "ch2"} and "ch0" not in segments
    assert out[seg("saas_segment_mrr", "channel", "other")] == 90.0 + 10.0 + 20.0
    assert out[seg("saas_segment_mrr", "channel", "ch2")] == 30.0


def test_default_segment_cap_is_twenty_named_plus_other() -> None:
    out = run(
        *[updated(f"c{i:02d}", JAN1, country=f"A{chr(65 + i)}") for i in range(22)],
        *[start(f"c{i:02d}", 1000 + i, JAN1) for i in range(22)],
    )
    names = {
        k.split('segment="')[1].split('"')[0]
        for k in out
        if k.startswith('saas_segment_mrr{dimension="country"')
    }
    assert len(names) == 21 and "other" in names and "AA" not in names and "AB" not in names
    assert out[seg("saas_segment_mrr", "country", "other")] == pytest.approx(20.01)


def test_plan_cap() -> None:
    out = run(
        start("a", 30000, JAN1, plan="p1"),
        start("b", 20000, JAN1, plan="p3", sub="b1"),
        start("b", 5000, JAN1, plan="p4", sub="b2"),
        start("c", 15000, JAN1, plan="p2"),
        start("d", 5000, JAN1, plan="p2"),
        max_plans=2,
    )
    # p1 300, p2 200 (ties with p3 and wins by name), p3 200, p4 50 -> other = p3 + p4
    assert {k: v for k, v in out.items() if k.startswith("saas_plan_")} == {
        'saas_plan_mrr{plan="p1"}': 300.0,
        'saas_plan_mrr{plan="p2"}': 200.0,
        'saas_plan_mrr{plan="other"}': 250.0,
        'saas_plan_customers{plan="p1"}': 1.0,
        'saas_plan_customers{plan="p2"}': 2.0,
        'saas_plan_customers{plan="other"}': 2.0,  # summed: b counted for p3 and for p4
    }
    assert len([k for k in run(start("a", 1, JAN1, plan="x")) if "saas_plan_" in k]) == 2


def test_tickets_support_times() -> None:
    t1, t2 = {"customer_id": "c", "ticket_id": "t1"}, {"customer_id": "c", "ticket_id": "t2"}
    resolve_t1 = ev("ticket.resolved", mar(2, 10), **t1)
    out = run(
        ev("ticket.opened", JAN1, customer_id="c", ticket_id="t0"),
        ev("ticket.opened", mar(1, 10), **t1),
        ev("ticket.opened", mar(1, 12), **t1),  # already open: counted, keeps 10:00
        ev("ticket.replied", mar(1, 13), **t1),  # first reply: 3 h
        ev("ticket.replied", mar(1, 20), **t1),  # later reply: ignored
        resolve_t1,  # 24 h
        resolve_t1,  # a duplicate, not unknown_ticket
        ev("ticket.resolved", mar(2, 11), **t1),  # already resolved: unknown_ticket
        ev("ticket.opened", mar(3), **t2),
        ev("ticket.replied", "2026-03-02T23:00:00Z", **t2),  # before the opening: 0 h
        ev("ticket.resolved", mar(3, 6), **t2),  # 6 h
        ev("ticket.replied", mar(3, 7), customer_id="other", ticket_id="t2"),  # unknown_ticket
        ev("ticket.opened", mar(4), customer_id="c"),  # no ticket_id: counted only
        ev("ticket.resolved", mar(4), customer_id="c", ticket_id="t0"),  # 62 days = 1488 h
        ev("ticket.opened", mar(5), **t1),  # reopened: a new open time
        ev("ticket.replied", mar(5, 2), **t1),  # its first reply: 2 h
        ev("ticket.replied", mar(5, 2), customer_id="c", ticket_id="t9"),  # unknown_ticket
        start("c", 1000, JAN1),
    )
    assert out['saas_events_rejected_total{reason="unknown_ticket"}'] == 3
    assert out['saas_events_duplicate_total{topic="saas.business"}'] == 1
    assert out[w30("saas_tickets_opened")] == 5  # t1, t1 again, t2, no id, t1 reopened
    assert out[w30("saas_tickets_resolved")] == 3
    assert out[w30("saas_ticket_resolution_rate")] == 0.6
    assert out[w30("saas_ticket_resolution_hours")] == (24 + 6 + 1488) / 3
    assert out[w30("saas_ticket_first_response_hours")] == pytest.approx(5 / 3)
    assert out[w30("saas_tickets_per_customer")] == 5.0  # v1: openings per paying customer


def test_no_support_means_without_replies_or_resolutions() -> None:
    out = run(ev("ticket.opened", JAN1, customer_id="c", ticket_id="t"))
    assert out[w30("saas_tickets_opened")] == 1
    assert out[w30("saas_ticket_resolution_rate")] == 0.0
    assert w30("saas_ticket_resolution_hours") not in out
    assert w30("saas_ticket_first_response_hours") not in out


def test_committed_mrr() -> None:
    def change(customer: str, ts: str, **fields: Any) -> dict[str, Any]:
        return sub_event("subscription.changed", customer, ts, **fields)

    out = run(
        start("a", 10000, JAN1),
        change("a", "2026-01-02T00:00:00Z", cancel_at_period_end=True),
        change("a", "2026-01-03T00:00:00Z", cancel_at_period_end=False),  # withdrawn
        start("b", 5000, JAN1),
        change("b", "2026-01-02T00:00:00Z", cancel_at_period_end=True),
        sub_event("subscription.canceled", "b", "2026-01-05T00:00:00Z"),  # clears it
        start("b", 6000, "2026-01-06T00:00:00Z"),  # restarted: not scheduled
        start("c", 3000, JAN1),
        change("c", "2026-01-02T00:00:00Z", cancel_at_period_end=True),
        start("c", 3500, "2026-01-07T00:00:00Z"),  # a new start of the same id clears it
        start("d", 2000, JAN1),
        change("d", "2026-01-02T00:00:00Z", cancel_at_period_end=True),  # still scheduled
        start("e", 1000, JAN1),
        change("e", "2026-01-02T00:00:00Z", cancel_at_period_end=True),
        sub_event("subscription.paused", "e", "2026-01-03T00:00:00Z"),  # MRR 0: not pending
        start("f", 4000, JAN1),
        change("f", "2026-01-08T00:00:00Z", amount=4500, cancel_at_period_end=True),
    )
    assert out["saas_mrr"] == 260.0  # 100 + 60 + 35 + 20 + 45
    assert out["saas_committed_mrr"] == 195.0  # 260 - 20 (d) - 45 (f)
    assert out["saas_pending_cancellations"] == 2
    assert out[total("expansion")] == 10.0  # c +5, f +5; the schedule-only changes move nothing
    assert out[total("contraction")] == 0.0
    assert out[total("churn")] == 60.0  # b 50 canceled, e 10 paused


def test_csat_signups_visitor_rate_burn_multiple() -> None:
    money = {"currency": "USD"}
    out = run(
        *[ev("csat.response", FEB1, customer_id="c", score=s) for s in (5, 4, 3, 1, 5)],
        ev("csat.response", "2026-01-01T00:00:00Z", customer_id="c", score=1),  # outside W
        *[ev("signup", FEB1, user_id=f"u{i}", channel="ads") for i in range(3)],
        ev("signup", FEB1, user_id="u0"),  # counted again: signups are events
        *[ev("visit", FEB1, visitor_id=f"v{i % 8}") for i in range(20)],
        start("a", 10000, "2026-01-20T00:00:00Z"),
        start("b", 5000, "2025-12-01T00:00:00Z"),
        sub_event("subscription.canceled", "b", "2026-01-25T00:00:00Z"),
        ev("spend", FEB1, category="opex", amount=120000, **money),
        ev("payment.succeeded", FEB1, customer_id="a", amount=10000, **money),
    )
    assert out[w30("saas_csat")] == 60.0
    assert out[w30("saas_signups")] == 4
    assert out[w30("saas_visitor_signup_rate")] == 0.5  # 4 / 8
    # burn 1200 - 100 = 1100; net new MRR 100 - 50 = 50 -> 1100 / 600
    assert out[w30("saas_burn_multiple")] == pytest.approx(1100 / 600)


def test_no_burn_multiple_without_growth_or_burn() -> None:
    money = {"currency": "USD"}
    shrinking = run(
        start("b", 5000, "2025-12-01T00:00:00Z"),
        sub_event("subscription.canceled", "b", FEB1),
        ev("spend", FEB1, category="opex", amount=1000, **money),
    )
    assert w30("saas_burn_multiple") not in shrinking
    profitable = run(
        start("a", 5000, FEB1), ev("payment.succeeded", FEB1, customer_id="a", amount=9, **money)
    )
    assert w30("saas_burn_multiple") not in profitable
    assert w30("saas_csat") not in profitable
    assert w30("saas_visitor_signup_rate") not in profitable


# ---------------------------------------------------------------- v2 histories (tests/v2_history.py)

V2_TYPES = {
    "trial.started", "trial.ended", "subscription.started", "subscription.changed",
    "subscription.paused", "subscription.resumed", "subscription.canceled", "customer.updated",
    "payment.succeeded", "payment.failed", "payment.refunded", "usage", "visit",
    "lead.created", "spend", "cash.balance", "ticket.opened", "ticket.replied",
    "ticket.resolved", "nps.response", "csat.response", "signup", "fx.rate",
}  # fmt: skip


def _types(lines: list[bytes]) -> set[str]:
    found = set()
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                found.add(item["type"])
    return found


def test_v2_history_is_seeded_and_uses_every_type_and_rejection() -> None:
    lines = history()
    assert lines == history(V2Config())
    assert lines != history(V2Config(seed=14))
    assert _types(lines) == V2_TYPES
    out = compute(lines)
    reasons = {k.split('"')[1] for k in out if k.startswith("saas_events_rejected_total")}
    assert {"unknown_ticket", "unknown_subscription", "unknown_currency", "invalid_json"} <= reasons
    assert {"wrong_type", "invalid_value", "missing_field", "empty_batch"} <= reasons
    assert sum(v for k, v in out.items() if k.startswith("saas_events_duplicate_total")) > 50
    for dimension in ("country", "channel"):  # more segments than the default cap of 20
        assert seg("saas_segment_mrr", dimension, "other") in out
    assert seg("saas_segment_cac", "channel", "other", True) in out
    assert out["saas_pending_cancellations"] > 0 and out["saas_at_risk_customers"] > 0
    for name in ("csat", "ticket_first_response_hours", "burn_multiple", "visitor_signup_rate"):
        assert w30(f"saas_{name}") in out
    assert len([k for k in out if k.startswith("saas_cohort_customers")]) >= 3
    assert out[w30("saas_unique_visitors")] < 1000  # exact distinct counts in the engine too


@pytest.mark.parametrize("seed", [13, 1, 2, 3, 4])
def test_v2_history_invariants(seed: int) -> None:
    out = compute(history(V2Config(seed=seed)))

    def per_segment(name: str, dimension: str) -> float:
        return sum(v for k, v in out.items() if k.startswith(f'{name}{{dimension="{dimension}"'))

    for dimension in ("country", "channel"):  # per dimension, segments sum to the totals
        assert per_segment("saas_segment_mrr", dimension) == pytest.approx(out["saas_mrr"])
        paying = per_segment("saas_segment_paying_customers", dimension)
        assert paying == out["saas_paying_customers"]
    new = [per_segment("saas_segment_new_customers", d) for d in ("country", "channel")]
    assert new[0] == new[1]
    assert out["saas_committed_mrr"] <= out["saas_mrr"] + 1e-9
    for key, value in out.items():
        if key.startswith("saas_cohort_logo_retention"):
            assert 0 <= value <= 1, key
        if key.startswith('saas_cohort_mrr_retention{age="0"'):
            assert value == pytest.approx(1.0), key


def test_diff_near_allows_two_percent_on_approximate_families() -> None:
    expected = {'saas_unique_visitors{window="30d"}': 5000.0, "saas_mrr": 10.0}
    assert diff(expected, {**expected, 'saas_unique_visitors{window="30d"}': 5090.0}) != []
    near = approximate(expected)
    assert near == ("saas_unique_visitors", "saas_visitor_signup_rate")
    assert (
        diff(expected, {**expected, 'saas_unique_visitors{window="30d"}': 5090.0}, near=near) == []
    )
    assert diff(expected, {**expected, 'saas_unique_visitors{window="30d"}': 5200.0}, near=near)
    assert diff(expected, {**expected, "saas_mrr": 10.1}, near=near)  # money stays exact
    assert approximate({'saas_unique_visitors{window="30d"}': 1000.0}) == ()
    assert "saas_stickiness" in approximate({'saas_active_users{window="30d"}': 1001.0})


def test_a_plan_literally_named_other_joins_the_merged_one() -> None:
    out = run(
        start("a", 9000, JAN1, plan="other"),
        start("b", 3000, JAN1, plan="p1"),
        start("c", 2000, JAN1, plan="p2"),
        max_plans=2,
    )
    assert out['saas_plan_mrr{plan="other"}'] == 110.0  # "other" 90 + p2 20
    assert out['saas_plan_customers{plan="other"}'] == 2
    assert out['saas_plan_mrr{plan="p1"}'] == 30.0
    assert sum(v for k, v in out.items() if k.startswith("saas_plan_mrr")) == out["saas_mrr"]
