"""A small Stripe account's history with every SPEC §6 case, and its end state by hand.

Eight customers over 26 days of January 2026: forever and once coupons,
percent and amount off, metered items, quarterly and half-yearly prices, a
trial conversion and a trial that ends, a pause, a pause and resume, past_due,
a scheduled cancellation, a withdrawn one, an `unpaid` subscription
(involuntary churn), an `incomplete` one, customer countries with one
update superseded, paid and failed invoices, a charge refunded in two parts, and event
types to ignore. `export_pages` writes it as the Events API lists it (pages of
newest first) with duplicates; `jsonl_shuffled` as shuffled JSON lines.
"""

from __future__ import annotations

import random
from typing import Any

from tests import reference
from tests.stripe import objects as so

DAY = so.DAY
SUB_CREATED, SUB_UPDATED = "customer.subscription.created", "customer.subscription.updated"


def _at(day: float) -> int:
    return so.T0 + int(day * DAY)


def _sub(customer: str, status: str, items: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return so.subscription(status, items, sub_id="sub_" + customer[4:], customer=customer, **kw)


def events() -> list[dict[str, Any]]:
    """Every Stripe event of the account, oldest first."""
    basic = so.price(2000, lookup_key="basic", price_id="price_basic")
    pro = so.price(9000, interval_count=3, lookup_key="pro", price_id="price_pro")
    meter = so.price(3, usage_type="metered", price_id="price_api_calls")
    half = so.price(12000, interval_count=6, product="prod_half", price_id="price_half")
    yearly = so.price(24000, interval="year", lookup_key="yearly", price_id="price_yearly")
    monthly = so.price(5000, lookup_key="monthly", price_id="price_monthly")
    team = so.price(1000, product=None, price_id="price_team")
    forever25 = so.discount(so.coupon(percent_off=25))
    once50 = so.discount(so.coupon(percent_off=50, duration="once"))
    forever600 = so.discount(so.coupon(amount_off=600), new_layout=True)

    a = lambda status, qty=1, **kw: _sub(  # noqa: E731
        "cus_A", status, [so.item(basic, qty)], discount=forever25, **kw
    )
    b = lambda status: _sub(  # noqa: E731
        "cus_B", status, [so.item(pro, 1), so.item(meter, None)], discount=once50
    )
    c = lambda status: _sub("cus_C", status, [so.item(half, 1)], discounts=[forever600])  # noqa: E731
    h = lambda status, **kw: _sub("cus_H", status, [so.item(team, 3)], **kw)  # noqa: E731
    ev = so.event
    return [
        ev("customer.created", so.customer("cus_A", country="US", channel="ads"), _at(0)),
        ev("customer.created", so.customer("cus_B", country="DE", channel="seo"), _at(0)),
        ev("customer.created", so.customer("cus_C", country="FR"), _at(0)),
        ev("customer.created", so.customer("cus_D", country="DE"), _at(0)),
        ev("customer.created", so.customer("cus_E", country="US"), _at(0)),
        ev("customer.created", so.customer("cus_F"), _at(0)),
        ev("customer.created", so.customer("cus_H", country="US"), _at(0)),
        ev(SUB_CREATED, a("active"), _at(1)),
        ev(
            "invoice.paid",
            so.invoice(amount_paid=1500, customer="cus_A", invoice_id="in_A1"),
            _at(1),
        ),
        ev(SUB_CREATED, b("active"), _at(1.5)),
        ev(
            "invoice.paid",
            so.invoice(amount_paid=4500, customer="cus_B", invoice_id="in_B1"),
            _at(1.5),
        ),
        ev("invoice.created", so.invoice(customer="cus_B"), _at(1.5)),
        ev(SUB_CREATED, c("trialing"), _at(2)),
        ev(SUB_CREATED, _sub("cus_D", "trialing", [so.item(monthly)]), _at(3)),
        ev(SUB_CREATED, _sub("cus_E", "active", [so.item(yearly)]), _at(4)),
        ev(
            "invoice.paid",
            so.invoice(amount_paid=24000, customer="cus_E", invoice_id="in_E1"),
            _at(4),
        ),
        ev("customer.updated", so.customer("cus_H", country="IE"), _at(4.5)),  # GB wins
        ev("customer.updated", so.customer("cus_H", country="GB"), _at(5)),
        ev(SUB_CREATED, _sub("cus_F", "active", [so.item(monthly)]), _at(5)),
        ev(SUB_CREATED, h("active"), _at(6)),
        ev(
            "invoice.paid",
            so.invoice(amount_paid=3000, customer="cus_H", invoice_id="in_H1"),
            _at(6),
        ),
        ev(SUB_CREATED, _sub("cus_G", "incomplete", [so.item(monthly)]), _at(6)),
        ev(SUB_UPDATED, _sub("cus_G", "incomplete_expired", [so.item(monthly)]), _at(7)),
        ev(SUB_UPDATED, h("paused"), _at(8)),
        ev(SUB_UPDATED, c("active"), _at(9)),  # trial conversion
        ev(
            "invoice.paid",
            so.invoice(amount_paid=11400, customer="cus_C", invoice_id="in_C1"),
            _at(9),
        ),
        ev(SUB_UPDATED, a("active", qty=2), _at(10)),
        ev(SUB_UPDATED, h("active"), _at(11)),  # resumed
        ev(SUB_UPDATED, _sub("cus_E", "paused", [so.item(yearly)]), _at(12)),
        ev("payment_intent.succeeded", {"id": "pi_1", "object": "payment_intent"}, _at(12)),
        ev(SUB_UPDATED, b("past_due"), _at(15)),  # keeps its MRR
        ev(
            "invoice.payment_failed",
            so.invoice(amount_due=9000, customer="cus_B", invoice_id="in_B2"),
            _at(15),
        ),
        ev(
            "charge.refunded",
            so.charge(
                amount=24000,
                amount_refunded=1000,
                customer="cus_E",
                charge_id="ch_E1",
                invoice="in_E1",
            ),
            _at(16),
        ),
        ev(SUB_UPDATED, _sub("cus_D", "canceled", [so.item(monthly)]), _at(17)),  # trial.ended
        ev(
            "charge.refunded",
            so.charge(
                amount=24000,
                amount_refunded=2500,
                customer="cus_E",
                charge_id="ch_E1",
                invoice="in_E1",
            ),
            _at(18),
        ),
        ev(SUB_UPDATED, a("active", qty=2, cancel_at_period_end=True), _at(20)),
        ev(
            "invoice.payment_failed",
            so.invoice(amount_due=5000, customer="cus_F", invoice_id="in_F2"),
            _at(22),
        ),
        ev(SUB_UPDATED, _sub("cus_F", "unpaid", [so.item(monthly)]), _at(22.5)),
        ev(SUB_UPDATED, h("active", cancel_at_period_end=True), _at(25)),
        ev(SUB_UPDATED, h("active", cancel_at_period_end=False), _at(26)),
        ev("plan.created", {"id": "plan_x", "object": "plan"}, _at(26)),
    ]


def export_pages(all_events: list[dict[str, Any]], seed: int = 5, per_page: int = 7) -> bytes:
    """Events API list pages, newest first, one page per line, with some events twice."""
    rng = random.Random(seed)
    noisy = [*all_events, *rng.sample(all_events, 8)]
    noisy.sort(key=lambda e: (e["created"], e["id"]), reverse=True)
    lines = []
    for start in range(0, len(noisy), per_page):
        page = {
            "object": "list",
            "data": noisy[start : start + per_page],
            "has_more": True,
            "url": "/v1/events",
        }
        lines.append(reference_json(page))
    return b"\n".join(lines) + b"\n"


def jsonl_shuffled(all_events: list[dict[str, Any]], seed: int = 9) -> bytes:
    rng = random.Random(seed)
    noisy = [*all_events, *rng.sample(all_events, 8)]
    rng.shuffle(noisy)
    return b"".join(reference_json(e) + b"\n" for e in noisy)


def reference_json(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value)


def k(name: str, **labels: str) -> str:
    return reference.sample_key(name, **labels)


# The end state by hand (major units of USD):
#   A basic: 2000 x 2 less 25 % forever = 3000 -> 30.00, cancellation scheduled
#   B pro: quarterly 9000 (the 50 % coupon is `once`), metered item left out -> 30.00; past_due
#   C prod_half: (12000 - 600 forever) per 6 months -> 1900 a month -> 19.00 (converted trial)
#   H price_team: 1000 x 3 -> 30.00, paused then resumed, schedule set then withdrawn
#   D trial ended, E paused, F unpaid (involuntary churn), G incomplete: no MRR
#   revenue: 1500 + 4500 + 24000 + 3000 + 11400 paid - (1000 + 1500) refunded = 41900
END_STATE = {
    k("saas_mrr"): 109.0,
    k("saas_paying_customers"): 4.0,
    k("saas_plan_mrr", plan="basic"): 30.0,
    k("saas_plan_mrr", plan="pro"): 30.0,
    k("saas_plan_mrr", plan="prod_half"): 19.0,
    k("saas_plan_mrr", plan="price_team"): 30.0,
    k("saas_committed_mrr"): 79.0,
    k("saas_pending_cancellations"): 1.0,
    k("saas_segment_mrr", dimension="country", segment="US"): 30.0,
    k("saas_segment_mrr", dimension="country", segment="DE"): 30.0,
    k("saas_segment_mrr", dimension="country", segment="FR"): 19.0,
    k("saas_segment_mrr", dimension="country", segment="GB"): 30.0,
    k("saas_revenue", window="30d"): 419.0,
}
# ... and, when the history is applied in order, F's involuntary churn (a movement:
# in webhook order its `unpaid` snapshot may arrive before it ever started)
EXPECTED = {**END_STATE, k("saas_mrr_movement", kind="involuntary_churn", window="30d"): 50.0}
