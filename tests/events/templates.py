"""Shared by the corpus and the fuzzers: the rejection reasons of
docs/definitions.md, and one valid event body per SPEC §2 type (without
event_id/type/ts) with every optional field present so mutations reach it."""

from __future__ import annotations

from typing import Any

# reasons `events.codec.decode` gives; the state rules are applied by `tables.store.Store`
STATIC_REASONS = frozenset(
    {
        "invalid_json",
        "not_an_object",
        "empty_batch",
        "missing_field",
        "wrong_type",
        "unknown_type",
        "wrong_topic",
        "invalid_ts",
        "invalid_value",
        "negative_amount",
        "invalid_quantity",
    }
)
STATE_REASONS = frozenset({"unknown_currency", "unknown_subscription", "unknown_ticket"})

TEMPLATES: dict[str, dict[str, Any]] = {
    "trial.started": {"customer_id": "c1", "subscription_id": "s1", "plan": "pro"},
    "trial.ended": {"customer_id": "c1", "subscription_id": "s1"},
    "subscription.started": {
        "customer_id": "c1",
        "subscription_id": "s1",
        "plan": "pro",
        "amount": 4900,
        "currency": "USD",
        "interval": "month",
        "quantity": 2,
    },
    "subscription.changed": {
        "customer_id": "c1",
        "subscription_id": "s1",
        "plan": "team",
        "amount": 5900,
        "currency": "USD",
        "interval": "year",
        "quantity": 3,
        "cancel_at_period_end": True,
    },
    "customer.updated": {"customer_id": "c1", "country": "DE", "channel": "partner"},
    "subscription.paused": {"customer_id": "c1", "subscription_id": "s1"},
    "subscription.resumed": {"customer_id": "c1", "subscription_id": "s1"},
    "subscription.canceled": {
        "customer_id": "c1",
        "subscription_id": "s1",
        "reason": "payment_failed",
    },
    "payment.succeeded": {
        "customer_id": "c1",
        "amount": 4900,
        "currency": "USD",
        "invoice_id": "in1",
    },
    "payment.failed": {"customer_id": "c1", "amount": 4900, "currency": "USD"},
    "payment.refunded": {"customer_id": "c1", "amount": 4900, "currency": "USD"},
    "lead.created": {"lead_id": "l1", "channel": "ads"},
    "spend": {"category": "marketing", "amount": 10_000, "currency": "USD", "channel": "ads"},
    "cash.balance": {"amount": 10**9, "currency": "USD"},
    "ticket.opened": {"customer_id": "c1", "ticket_id": "t1"},
    "ticket.replied": {"customer_id": "c1", "ticket_id": "t1"},
    "ticket.resolved": {"customer_id": "c1", "ticket_id": "t1"},
    "csat.response": {"customer_id": "c1", "score": 4},
    "signup": {"user_id": "u1", "channel": "ads"},
    "nps.response": {"customer_id": "c1", "score": 9},
    "fx.rate": {"currency": "EUR", "rate": 1.08},
    "usage": {"user_id": "u1", "customer_id": "c1", "feature": "export"},
    "visit": {"visitor_id": "v1"},
}
