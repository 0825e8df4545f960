"""Stripe objects shaped like Stripe's own (stripe/openapi `openapi/fixtures3.json`).

Each builder returns the JSON Stripe sends, with the fields the connector reads
set from its arguments and the rest of the layout kept as in the fixtures (so a
test reads like a real webhook delivery). Timestamps are our own: the fixtures'
are placeholders.
"""

from __future__ import annotations

import itertools
from typing import Any

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400
_ids = itertools.count(1)


def price(
    unit_amount: int | None = 2000,
    *,
    interval: str = "month",
    interval_count: int = 1,
    usage_type: str = "licensed",
    lookup_key: str | None = None,
    product: Any = "prod_QXg1hqf4jFNsqG",
    price_id: str = "price_1PgafmB7WZ01zgkW6dKueIc5",
    currency: str = "usd",
) -> dict[str, Any]:
    return {
        "active": True,
        "billing_scheme": "per_unit",
        "created": T0 - 30 * DAY,
        "currency": currency,
        "custom_unit_amount": None,
        "id": price_id,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": {},
        "nickname": None,
        "object": "price",
        "product": product,
        "recurring": {
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "usage_type": usage_type,
            "trial_period_days": None,
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": None if unit_amount is None else str(unit_amount),
    }


def item(the_price: dict[str, Any] | None = None, quantity: int | None = 1) -> dict[str, Any]:
    return {
        "created": T0 - 30 * DAY,
        "discounts": [],
        "id": f"si_{next(_ids):014d}",
        "metadata": {},
        "object": "subscription_item",
        "price": the_price if the_price is not None else price(),
        "quantity": quantity,
        "subscription": "sub_placeholder",
        "tax_rates": [],
        "current_period_end": T0 + 30 * DAY,
        "current_period_start": T0,
        "billing_thresholds": None,
    }


def coupon(
    *,
    percent_off: float | None = None,
    amount_off: int | None = None,
    duration: str = "forever",
) -> dict[str, Any]:
    return {
        "amount_off": amount_off,
        "created": T0 - 60 * DAY,
        "currency": "usd" if amount_off is not None else None,
        "duration": duration,
        "duration_in_months": 3 if duration == "repeating" else None,
        "id": "Z4OV52SU",
        "livemode": False,
        "max_redemptions": None,
        "metadata": {},
        "name": "a coupon",
        "object": "coupon",
        "percent_off": percent_off,
        "redeem_by": None,
        "times_redeemed": 1,
        "valid": True,
    }


def discount(the_coupon: dict[str, Any], *, new_layout: bool = False) -> dict[str, Any]:
    """A discount object; `new_layout` puts the coupon at `source.coupon` (newer API)."""
    body: dict[str, Any] = {
        "checkout_session": None,
        "customer": "cus_QXg1o8vcGmoR32",
        "end": None,
        "id": f"di_{next(_ids):014d}",
        "invoice": None,
        "invoice_item": None,
        "object": "discount",
        "promotion_code": None,
        "start": T0 - 10 * DAY,
        "subscription": None,
        "subscription_item": None,
    }
    if new_layout:
        body["source"] = {"coupon": the_coupon, "type": "coupon"}
    else:
        body["coupon"] = the_coupon
    return body


def subscription(
    status: str = "active",
    items: list[dict[str, Any]] | None = None,
    *,
    sub_id: str = "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw",
    customer: str = "cus_QXg1o8vcGmoR32",
    currency: str = "usd",
    cancel_at_period_end: bool = False,
    cancellation_reason: str | None = None,
    discount: dict[str, Any] | None = None,
    discounts: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        "application": None,
        "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
        "billing_cycle_anchor": T0,
        "cancel_at": None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": cancellation_reason},
        "collection_method": "charge_automatically",
        "created": T0 - 30 * DAY,
        "currency": currency,
        "customer": customer,
        "days_until_due": None,
        "default_payment_method": None,
        "description": None,
        "discount": discount,
        "discounts": discounts if discounts is not None else [],
        "ended_at": None,
        "id": sub_id,
        "items": {
            "data": items if items is not None else [item()],
            "has_more": False,
            "object": "list",
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": {},
        "object": "subscription",
        "pause_collection": None,
        "start_date": T0 - 30 * DAY,
        "status": status,
        "trial_end": None,
        "trial_start": None,
    }


def customer(
    cus_id: str = "cus_QXg1o8vcGmoR32",
    *,
    country: str | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    return {
        "address": {
            "city": None,
            "country": country,
            "line1": None,
            "line2": None,
            "postal_code": None,
            "state": None,
        },
        "balance": 0,
        "created": T0 - 90 * DAY,
        "currency": "usd",
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "id": cus_id,
        "invoice_prefix": "7FE1103",
        "livemode": False,
        "metadata": {"channel": channel} if channel is not None else {},
        "name": None,
        "object": "customer",
        "phone": None,
        "preferred_locales": [],
        "tax_exempt": "none",
        "test_clock": None,
    }


def invoice(
    *,
    amount_paid: int = 0,
    amount_due: int = 2000,
    customer: str = "cus_QXg1o8vcGmoR32",
    currency: str = "usd",
    invoice_id: str = "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
    status: str = "paid",
) -> dict[str, Any]:
    return {
        "account_country": "US",
        "amount_due": amount_due,
        "amount_paid": amount_paid,
        "amount_remaining": amount_due - amount_paid,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": T0,
        "currency": currency,
        "customer": customer,
        "customer_address": None,
        "discounts": [],
        "id": invoice_id,
        "livemode": False,
        "metadata": {},
        "object": "invoice",
        "paid": status == "paid",
        "status": status,
        "subtotal": amount_due,
        "total": amount_due,
    }


def charge(
    *,
    amount: int = 2000,
    amount_refunded: int = 0,
    customer: str | None = "cus_QXg1o8vcGmoR32",
    charge_id: str = "ch_1PgafuB7WZ01zgkWXYmPNZs8",
    currency: str = "usd",
    invoice: str | None = "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
) -> dict[str, Any]:
    return {
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "balance_transaction": "txn_1PgaxNB7WZ01zgkWEV3TLf40",
        "captured": True,
        "created": T0,
        "currency": currency,
        "customer": customer,
        "disputed": False,
        "id": charge_id,
        "invoice": invoice,
        "livemode": False,
        "metadata": {},
        "object": "charge",
        "paid": True,
        "refunded": amount_refunded == amount,
        "status": "succeeded",
    }


def event(
    kind: str, obj: dict[str, Any], created: int, event_id: str | None = None
) -> dict[str, Any]:
    """A Stripe Event object wrapping `obj` (as `data.object`)."""
    return {
        "api_version": "2024-06-20",
        "created": created,
        "data": {"object": obj, "previous_attributes": {}},
        "id": event_id or f"evt_{next(_ids):024d}",
        "livemode": False,
        "object": "event",
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }
