"""Which fields each event type has, which topic carries it, and how to check them.

One table drives validation, so SPEC §2 lives in exactly one place. A field is
`(name, kind, required)`; the kind names a check in `events.validate`.
"""

from __future__ import annotations

from typing import Final

from events import types as t

# Topic suffixes (the prefix, default "saas.", is configurable).
SUBSCRIPTIONS: Final = "subscriptions"
PAYMENTS: Final = "payments"
USAGE: Final = "usage"
BUSINESS: Final = "business"
REJECTED: Final = "rejected"
FACTS: Final = "facts"
USAGE_STATE: Final = "usage-state"
INPUT_TOPICS: Final = (SUBSCRIPTIONS, PAYMENTS, USAGE, BUSINESS)

INTERVALS: Final = frozenset({"day", "week", "month", "quarter", "year"})
CATEGORIES: Final = frozenset({"sales", "marketing", "cogs", "opex"})

Field = tuple[str, str, bool]

_CUSTOMER_SUB: tuple[Field, ...] = (
    ("customer_id", "id", True),
    ("subscription_id", "id", True),
)
_MONEY: tuple[Field, ...] = (("amount", "amount", True), ("currency", "currency", True))
_TICKET: tuple[Field, ...] = (("customer_id", "id", True), ("ticket_id", "id", True))


class EventSpec:
    """How to validate and build one event type."""

    __slots__ = ("cls", "topic", "fields")

    def __init__(self, cls: type[t.Event], topic: str, fields: tuple[Field, ...]) -> None:
        self.cls = cls
        self.topic = topic
        self.fields = fields


SPECS: Final[dict[str, EventSpec]] = {
    "trial.started": EventSpec(
        t.TrialStarted, SUBSCRIPTIONS, (*_CUSTOMER_SUB, ("plan", "id", True))
    ),
    "trial.ended": EventSpec(t.TrialEnded, SUBSCRIPTIONS, _CUSTOMER_SUB),
    "subscription.started": EventSpec(
        t.SubscriptionStarted,
        SUBSCRIPTIONS,
        (
            *_CUSTOMER_SUB,
            ("plan", "id", True),
            *_MONEY,
            ("interval", "interval", True),
            ("quantity", "quantity", False),
        ),
    ),
    "subscription.changed": EventSpec(
        t.SubscriptionChanged,
        SUBSCRIPTIONS,
        (
            *_CUSTOMER_SUB,
            ("plan", "id", False),
            ("amount", "amount", False),
            ("currency", "currency", False),
            ("interval", "interval", False),
            ("quantity", "quantity", False),
            ("cancel_at_period_end", "flag", False),
        ),
    ),
    "customer.updated": EventSpec(
        t.CustomerUpdated,
        SUBSCRIPTIONS,
        (("customer_id", "id", True), ("country", "country", False), ("channel", "channel", False)),
    ),
    "subscription.paused": EventSpec(t.SubscriptionPaused, SUBSCRIPTIONS, _CUSTOMER_SUB),
    "subscription.resumed": EventSpec(t.SubscriptionResumed, SUBSCRIPTIONS, _CUSTOMER_SUB),
    "subscription.canceled": EventSpec(
        t.SubscriptionCanceled, SUBSCRIPTIONS, (*_CUSTOMER_SUB, ("reason", "text", False))
    ),
    **{
        name: EventSpec(
            t.Payment,
            PAYMENTS,
            (("customer_id", "id", True), *_MONEY, ("invoice_id", "text", False)),
        )
        for name in ("payment.succeeded", "payment.failed", "payment.refunded")
    },
    "lead.created": EventSpec(
        t.LeadCreated, BUSINESS, (("lead_id", "id", True), ("channel", "text", False))
    ),
    "spend": EventSpec(
        t.Spend, BUSINESS, (("category", "category", True), *_MONEY, ("channel", "text", False))
    ),
    "cash.balance": EventSpec(t.CashBalance, BUSINESS, _MONEY),
    "ticket.opened": EventSpec(
        t.TicketOpened, BUSINESS, (("customer_id", "id", True), ("ticket_id", "id", False))
    ),
    "ticket.replied": EventSpec(t.TicketReplied, BUSINESS, _TICKET),
    "ticket.resolved": EventSpec(t.TicketResolved, BUSINESS, _TICKET),
    "nps.response": EventSpec(
        t.NpsResponse, BUSINESS, (("customer_id", "id", True), ("score", "score", True))
    ),
    "csat.response": EventSpec(
        t.CsatResponse, BUSINESS, (("customer_id", "id", True), ("score", "csat", True))
    ),
    "signup": EventSpec(t.Signup, BUSINESS, (("user_id", "id", True), ("channel", "text", False))),
    "fx.rate": EventSpec(
        t.FxRate, BUSINESS, (("currency", "currency", True), ("rate", "rate", True))
    ),
    "usage": EventSpec(
        t.Usage,
        USAGE,
        (("user_id", "id", True), ("customer_id", "id", True), ("feature", "id", True)),
    ),
    "visit": EventSpec(t.Visit, USAGE, (("visitor_id", "id", True),)),
}


def topic_of(event_type: str) -> str | None:
    """The topic suffix that carries `event_type`, or None for an unknown type."""
    spec = SPECS.get(event_type)
    return spec.topic if spec else None
