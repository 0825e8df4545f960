"""One test per SPEC §6 mapping rule, with snapshots shaped like Stripe's own objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from engine.stripe.mapping import REJECTED, translate
from engine.stripe.memory import Memory
from tests.stripe import objects as so
from tests.stripe.helpers import bodies, deliver

T0, DAY = so.T0, so.DAY
SUB = "customer.subscription.updated"


def sub_events(*snapshots: dict[str, Any]) -> list[dict[str, Any]]:
    """One Stripe event per snapshot, a day apart, in order."""
    return [so.event(SUB, snap, T0 + n * DAY) for n, snap in enumerate(snapshots)]


def last_bodies(*snapshots: dict[str, Any]) -> list[dict[str, Any]]:
    """The derived bodies of the last snapshot after all earlier ones were applied."""
    return bodies(deliver(sub_events(*snapshots))[-1])


def started(**terms: Any) -> dict[str, Any]:
    base = {"plan": "prod_QXg1hqf4jFNsqG", "amount": 2000, "currency": "USD", "interval": "month"}
    return {"type": "subscription.started", **base, "quantity": 1, **terms}


# ------------------------------------------------------------------ states


def test_active_snapshot_starts_a_subscription_with_ids_and_time() -> None:
    event = so.event("customer.subscription.created", so.subscription("active"), T0 + 3600, "evt_A")
    result = deliver([event])[0]
    assert result.outcome == "applied"
    assert result.stripe_type == "customer.subscription.created"
    assert result.events == [
        {
            "event_id": "stripe:evt_A:0",
            "type": "subscription.started",
            "ts": "2026-01-01T01:00:00Z",
            "customer_id": "cus_QXg1o8vcGmoR32",
            "subscription_id": "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw",
            "plan": "prod_QXg1hqf4jFNsqG",
            "amount": 2000,
            "currency": "USD",
            "interval": "month",
            "quantity": 1,
        }
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("trialing", [{"type": "trial.started", "plan": "prod_QXg1hqf4jFNsqG"}]),
        ("active", [started()]),
        ("past_due", [started()]),  # past_due keeps its MRR
        ("paused", [started(), {"type": "subscription.paused"}]),
        ("canceled", []),
        ("unpaid", []),
        ("incomplete_expired", []),
    ],
)
def test_first_snapshot_by_status(status: str, expected: list[dict[str, Any]]) -> None:
    assert last_bodies(so.subscription(status)) == expected


def test_incomplete_is_ignored_and_remembers_nothing() -> None:
    memory = Memory()
    results = deliver(sub_events(so.subscription("incomplete"), so.subscription("active")), memory)
    assert [r.outcome for r in results] == ["ignored", "applied"]
    assert bodies(results[0]) == [] and results[0].updates == {}
    assert bodies(results[1]) == [started()]


@pytest.mark.parametrize(
    ("status", "cancellation_reason", "reason"),
    [
        ("canceled", None, None),
        ("canceled", "cancellation_requested", "cancellation_requested"),
        ("canceled", "payment_failed", "payment_failed"),
        ("unpaid", None, "payment_failed"),
        ("incomplete_expired", None, None),
    ],
)
def test_cancellation_and_its_reason(
    status: str, cancellation_reason: str | None, reason: str | None
) -> None:
    end = so.subscription(status, cancellation_reason=cancellation_reason)
    expected: dict[str, Any] = {"type": "subscription.canceled"}
    if reason:
        expected["reason"] = reason
    assert last_bodies(so.subscription("active"), end) == [expected]


def test_canceled_snapshot_of_a_never_started_subscription_blocks_older_ones() -> None:
    canceled = so.event(SUB, so.subscription("canceled"), T0 + 2 * DAY)
    active = so.event(SUB, so.subscription("active"), T0 + DAY)
    results = deliver([canceled, active])
    assert [r.outcome for r in results] == ["applied", "stale"]
    assert [bodies(r) for r in results] == [[], []]


def test_a_cancellation_needs_no_readable_items() -> None:
    bare = so.subscription("canceled", items=[])
    assert last_bodies(so.subscription("active"), bare) == [{"type": "subscription.canceled"}]


def test_a_canceled_subscription_starts_again_on_a_later_active_snapshot() -> None:
    assert last_bodies(
        so.subscription("active"), so.subscription("canceled"), so.subscription("active")
    ) == [started()]


# ------------------------------------------------------------------ amount


def test_metered_items_are_left_out_and_licensed_items_summed() -> None:
    items = [
        so.item(so.price(2000), quantity=3),
        so.item(so.price(7, usage_type="metered", price_id="price_meter"), quantity=None),
        so.item(so.price(500, price_id="price_addon"), quantity=2),
    ]
    [event] = last_bodies(so.subscription("active", items))
    assert event["amount"] == 2000 * 3 + 500 * 2
    assert event["quantity"] == 3  # the first item's


def test_unit_amount_decimal_is_used_when_unit_amount_is_absent() -> None:
    the_price = so.price(None)
    the_price["unit_amount_decimal"] = "1250.5"
    [event] = last_bodies(so.subscription("active", [so.item(the_price, quantity=2)]))
    assert event["amount"] == 2501


@pytest.mark.parametrize(
    ("coupon", "amount"),
    [
        (so.coupon(percent_off=25.5), 1490),  # 2000 * 0.745
        (so.coupon(amount_off=500), 1500),
        (so.coupon(amount_off=5000), 0),  # never below 0
        (so.coupon(percent_off=100), 0),
        (so.coupon(percent_off=50, duration="once"), 2000),
        (so.coupon(amount_off=500, duration="repeating"), 2000),
    ],
)
def test_only_forever_coupons_discount_mrr(coupon: dict[str, Any], amount: int) -> None:
    snap = so.subscription("active", discount=so.discount(coupon))
    assert last_bodies(snap)[0]["amount"] == amount


def test_discount_in_the_newer_api_layout_and_in_discounts_list() -> None:
    coupon = so.coupon(percent_off=10)
    newer = so.subscription("active", discounts=[so.discount(coupon, new_layout=True)])
    assert last_bodies(newer)[0]["amount"] == 1800
    ids_only = so.subscription("active", discounts=["di_1Pgc6rB7WZ01zgkW7Al8Fal9"])
    assert last_bodies(ids_only)[0]["amount"] == 2000  # an unexpanded id says nothing


def test_discount_applies_per_billing_period_before_rescaling() -> None:
    # 6 months at 6000 less 1000 off per invoice = 5000 per 6 months -> 833.33 a month
    half_year = so.price(6000, interval_count=6)
    snap = so.subscription(
        "active", [so.item(half_year)], discount=so.discount(so.coupon(amount_off=1000))
    )
    [event] = last_bodies(snap)
    assert (event["amount"], event["interval"]) == (833, "month")


def test_rounding_happens_once_halves_up() -> None:
    # 1001 * 50 % = 500.5 per 6 months -> 83.41..., not round(500.5) / 6 = 83.5 -> 84
    snap = so.subscription(
        "active",
        [so.item(so.price(1001, interval_count=6))],
        discount=so.discount(so.coupon(percent_off=50)),
    )
    assert last_bodies(snap)[0]["amount"] == 83
    halves = so.subscription(
        "active", [so.item(so.price(1001))], discount=so.discount(so.coupon(percent_off=50))
    )
    assert last_bodies(halves)[0]["amount"] == 501  # 500.5 rounds up


@pytest.mark.parametrize(
    ("interval", "count", "unit", "expected"),
    [
        ("month", 1, 6000, ("month", 6000)),
        ("month", 3, 6000, ("quarter", 6000)),
        ("month", 6, 6000, ("month", 1000)),
        ("month", 12, 6000, ("month", 500)),
        ("year", 1, 12000, ("year", 12000)),
        ("year", 2, 12000, ("year", 6000)),
        ("week", 2, 999, ("week", 500)),  # 499.5 rounds half up
        ("day", 1, 100, ("day", 100)),
    ],
)
def test_interval_times_interval_count(
    interval: str, count: int, unit: int, expected: tuple[str, int]
) -> None:
    snap = so.subscription(
        "active", [so.item(so.price(unit, interval=interval, interval_count=count))]
    )
    [event] = last_bodies(snap)
    assert (event["interval"], event["amount"]) == expected


# ------------------------------------------------------------------ names


def test_currency_is_upper_case() -> None:
    assert last_bodies(so.subscription("active", currency="eur"))[0]["currency"] == "EUR"


@pytest.mark.parametrize("currency", ["0", "us", "usdx", "u$d", "ü12"])
def test_a_currency_that_is_not_three_letters_is_rejected_not_sent_on(currency: str) -> None:
    """The engine would reject such an event as invalid_value: the connector refuses the
    snapshot and the invoice itself, with the reason, and sends nothing (found by
    test_properties' fuzzing: a `currency` of "0")."""
    [sub] = deliver(sub_events(so.subscription("active", currency=currency)))
    paid = so.event("invoice.paid", so.invoice(amount_paid=2000, currency=currency), T0)
    [invoice] = deliver([paid])
    for result in (sub, invoice):
        assert (result.outcome, result.events) == (REJECTED, []), result
        assert "currency" in result.reason


def test_an_amount_above_the_engine_limit_is_rejected_not_sent_on() -> None:
    huge = so.subscription("active", items=[so.item(so.price(10**16))])
    [result] = deliver(sub_events(huge))
    assert (result.outcome, result.events) == (REJECTED, []), result
    assert "amount" in result.reason


@pytest.mark.parametrize(
    ("lookup_key", "product", "plan"),
    [
        ("pro_monthly", "prod_X", "pro_monthly"),
        (None, "prod_X", "prod_X"),
        (None, {"id": "prod_Y", "object": "product", "name": "Pro"}, "prod_Y"),
        (None, None, "price_1PgafmB7WZ01zgkW6dKueIc5"),
    ],
)
def test_plan_is_lookup_key_else_product_else_price(
    lookup_key: str | None, product: Any, plan: str
) -> None:
    snap = so.subscription("active", [so.item(so.price(lookup_key=lookup_key, product=product))])
    assert last_bodies(snap)[0]["plan"] == plan


def test_quantity_zero_is_left_out() -> None:
    [event] = last_bodies(so.subscription("active", [so.item(quantity=0)]))
    assert event["amount"] == 0 and "quantity" not in event


# ------------------------------------------------------------------ lifecycle


def test_trial_conversion() -> None:
    assert last_bodies(so.subscription("trialing"), so.subscription("active")) == [started()]


@pytest.mark.parametrize("status", ["canceled", "paused", "incomplete_expired"])
def test_trial_that_does_not_convert_ends(status: str) -> None:
    assert last_bodies(so.subscription("trialing"), so.subscription(status)) == [
        {"type": "trial.ended"}
    ]


def test_late_conversion_after_trial_ended() -> None:
    snaps = [so.subscription("trialing"), so.subscription("canceled"), so.subscription("paused")]
    assert last_bodies(*snaps) == []
    assert last_bodies(*snaps, so.subscription("active")) == [started()]


def test_trial_snapshots_repeat_nothing() -> None:
    assert last_bodies(so.subscription("trialing"), so.subscription("trialing")) == []


def test_pause_and_resume() -> None:
    active, paused = so.subscription("active"), so.subscription("paused")
    assert last_bodies(active, paused) == [{"type": "subscription.paused"}]
    assert last_bodies(active, paused, active) == [{"type": "subscription.resumed"}]


def test_pause_collection_is_not_a_pause() -> None:
    collecting_paused = so.subscription("active")
    collecting_paused["pause_collection"] = {"behavior": "void", "resumes_at": None}
    assert last_bodies(so.subscription("active"), collecting_paused) == []


def test_a_change_while_paused_comes_before_the_resume() -> None:
    bigger = so.subscription("active", [so.item(so.price(3000))])
    assert last_bodies(so.subscription("active"), so.subscription("paused"), bigger) == [
        {"type": "subscription.changed", "amount": 3000},
        {"type": "subscription.resumed"},
    ]


def test_changed_carries_only_what_changed() -> None:
    upgraded = so.subscription(
        "active", [so.item(so.price(5000, lookup_key="pro", interval="year"), quantity=4)]
    )
    assert last_bodies(so.subscription("active"), upgraded) == [
        {
            "type": "subscription.changed",
            "plan": "pro",
            "amount": 20000,
            "interval": "year",
            "quantity": 4,
        }
    ]
    assert last_bodies(so.subscription("active"), so.subscription("active")) == []


def test_cancel_at_period_end_schedules_and_withdraws() -> None:
    active = so.subscription("active")
    scheduled = so.subscription("active", cancel_at_period_end=True)
    change = {"type": "subscription.changed", "cancel_at_period_end": True}
    assert last_bodies(active, scheduled) == [change]
    assert last_bodies(active, scheduled, active) == [{**change, "cancel_at_period_end": False}]


def test_started_with_cancel_at_period_end_is_followed_by_the_schedule() -> None:
    assert last_bodies(so.subscription("active", cancel_at_period_end=True)) == [
        started(),
        {"type": "subscription.changed", "cancel_at_period_end": True},
    ]


def test_a_started_subscription_back_in_trial_is_paused() -> None:
    assert last_bodies(so.subscription("active"), so.subscription("trialing")) == [
        {"type": "subscription.paused"}
    ]


# ------------------------------------------------------------------ order


def test_older_snapshot_is_stale_and_the_same_event_a_duplicate() -> None:
    new = so.event(SUB, so.subscription("canceled"), T0 + 2 * DAY)
    old = so.event(SUB, so.subscription("active", cancel_at_period_end=True), T0 + DAY)
    results = deliver([so.event(SUB, so.subscription("active"), T0), new, old, new])
    assert [r.outcome for r in results] == ["applied", "applied", "stale", "duplicate"]
    assert [len(r.events) for r in results] == [1, 1, 0, 0]
    assert all(r.updates == {} for r in results[2:])


def test_same_second_events_are_ordered_by_event_id() -> None:
    a = so.event(SUB, so.subscription("active"), T0, "evt_a")
    b = so.event(SUB, so.subscription("paused"), T0, "evt_b")
    assert [r.outcome for r in deliver([b, a])] == ["applied", "stale"]


def test_translate_never_mutates_memory() -> None:
    memory = Memory()
    deliver([so.event(SUB, so.subscription("active"), T0)], memory)
    before = copy.deepcopy(dict(memory.entries()))
    result = translate(so.event(SUB, so.subscription("paused"), T0 + DAY), memory)
    assert result.updates and dict(memory.entries()) == before


# ------------------------------------------------------------------ customers


def test_customer_events_give_country_and_channel() -> None:
    created = so.event("customer.created", so.customer(country="DE", channel="ads"), T0, "evt_c")
    [result] = deliver([created])
    assert result.events == [
        {
            "event_id": "stripe:evt_c:0",
            "type": "customer.updated",
            "ts": "2026-01-01T00:00:00Z",
            "customer_id": "cus_QXg1o8vcGmoR32",
            "country": "DE",
            "channel": "ads",
        }
    ]


def test_customer_country_is_upper_case() -> None:
    [result] = deliver([so.event("customer.updated", so.customer(country="de"), T0)])
    assert bodies(result) == [{"type": "customer.updated", "country": "DE"}]


def test_customer_without_attributes_gives_nothing_and_older_updates_are_stale() -> None:
    plain = so.event("customer.created", so.customer(), T0)
    newer = so.event("customer.updated", so.customer(country="FR"), T0 + 2 * DAY)
    older = so.event("customer.updated", so.customer(country="DE"), T0 + DAY)
    results = deliver([plain, newer, older])
    assert [r.outcome for r in results] == ["applied", "applied", "stale"]
    assert [bodies(r) for r in results] == [
        [],
        [{"type": "customer.updated", "country": "FR"}],
        [],
    ]


def test_a_late_older_customer_event_still_gives_what_no_newer_one_set() -> None:
    newer = so.event("customer.updated", so.customer(channel="seo"), T0 + 2 * DAY)
    older = so.event("customer.created", so.customer(country="DE", channel="ads"), T0 + DAY)
    results = deliver([newer, older, older])
    assert [r.outcome for r in results] == ["applied", "applied", "duplicate"]
    assert [bodies(r) for r in results] == [
        [{"type": "customer.updated", "channel": "seo"}],
        [{"type": "customer.updated", "country": "DE"}],  # not the older channel
        [],
    ]


# ------------------------------------------------------------------ payments


def test_invoice_paid_and_failed() -> None:
    paid = so.event("invoice.paid", so.invoice(amount_paid=4900, amount_due=4900), T0)
    failed = so.event("invoice.payment_failed", so.invoice(amount_due=4900), T0 + DAY)
    results = deliver([paid, failed, paid])
    assert [r.outcome for r in results] == ["applied", "applied", "duplicate"]
    assert [bodies(r) for r in results[:2]] == [
        [
            {
                "type": "payment.succeeded",
                "amount": 4900,
                "currency": "USD",
                "invoice_id": "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
            }
        ],
        [
            {
                "type": "payment.failed",
                "amount": 4900,
                "currency": "USD",
                "invoice_id": "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
            }
        ],
    ]


def test_charge_refunded_gives_the_newly_refunded_part() -> None:
    first = so.event("charge.refunded", so.charge(amount_refunded=500), T0)
    second = so.event("charge.refunded", so.charge(amount_refunded=1500), T0 + DAY)
    results = deliver([first, second, first, second])
    assert [r.outcome for r in results] == ["applied", "applied", "stale", "duplicate"]
    assert [e["amount"] for r in results for e in r.events] == [500, 1000]
    assert results[0].events[0]["type"] == "payment.refunded"


def test_a_refund_without_a_customer_is_rejected() -> None:
    [result] = deliver([so.event("charge.refunded", so.charge(customer=None), T0)])
    assert result.outcome == "rejected" and "customer" in result.reason


# ------------------------------------------------------------------ other input


@pytest.mark.parametrize(
    "kind",
    ["invoice.created", "plan.created", "customer.deleted", "customer.discount.created", "x"],
)
def test_other_event_types_are_ignored(kind: str) -> None:
    [result] = deliver([so.event(kind, so.customer(), T0)])
    assert (result.outcome, result.events, result.stripe_type) == ("ignored", [], kind)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "evt_1",
        {"object": "list", "data": []},
        {**so.event(SUB, so.subscription(), T0), "created": "yesterday"},
        {**so.event(SUB, so.subscription(), T0), "created": True},
        {**so.event(SUB, so.subscription(), T0), "id": ""},
        {**so.event(SUB, so.subscription(), T0), "data": {}},
        so.event(SUB, so.subscription("on_fire"), T0),
        so.event(SUB, so.subscription(items=[]), T0),
        so.event(SUB, so.customer(), T0),
        so.event(SUB, so.subscription(items=[so.item(so.price(interval="fortnight"))]), T0),
        so.event("invoice.paid", so.invoice(currency=""), T0),
        so.event("invoice.paid", so.charge(), T0),
    ],
)
def test_bad_input_is_rejected_with_a_reason(bad: Any) -> None:
    memory = Memory()
    result = translate(bad, memory)
    assert result.outcome == "rejected" and result.reason
    assert (result.events, result.updates, len(memory)) == ([], {}, 0)
