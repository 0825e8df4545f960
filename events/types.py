"""Frozen, typed event models for every event type of SPEC §2.

Events are what the validator hands to the reducers: every field already has
its checked Python type, `ts` is epoch seconds (UTC) and `day` the UTC day
index (days since 1970-01-01). Money stays an integer in minor units of the
event's own `currency`. Version 1 of the event shapes; unknown input fields
are dropped at decode time (forward compatibility).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """Fields every event carries (SPEC §2)."""

    event_id: str
    type: str
    ts: float
    day: int


@dataclass(frozen=True, slots=True)
class TrialStarted(Event):
    customer_id: str
    subscription_id: str
    plan: str


@dataclass(frozen=True, slots=True)
class TrialEnded(Event):
    customer_id: str
    subscription_id: str


@dataclass(frozen=True, slots=True)
class SubscriptionStarted(Event):
    customer_id: str
    subscription_id: str
    plan: str
    amount: int
    currency: str
    interval: str
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class SubscriptionChanged(Event):
    """Only the fields present in the message are set; the rest are None."""

    customer_id: str
    subscription_id: str
    plan: str | None = None
    amount: int | None = None
    currency: str | None = None
    interval: str | None = None
    quantity: int | None = None
    cancel_at_period_end: bool | None = None  # (v2) schedule (True) or withdraw (False)


@dataclass(frozen=True, slots=True)
class CustomerUpdated(Event):
    """(v2) Sticky customer attributes: an absent field keeps its value."""

    customer_id: str
    country: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionPaused(Event):
    customer_id: str
    subscription_id: str


@dataclass(frozen=True, slots=True)
class SubscriptionResumed(Event):
    customer_id: str
    subscription_id: str


@dataclass(frozen=True, slots=True)
class SubscriptionCanceled(Event):
    customer_id: str
    subscription_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Payment(Event):
    """`payment.succeeded`, `payment.failed` and `payment.refunded`."""

    customer_id: str
    amount: int
    currency: str
    invoice_id: str | None = None


@dataclass(frozen=True, slots=True)
class LeadCreated(Event):
    lead_id: str
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Spend(Event):
    category: str
    amount: int
    currency: str
    channel: str | None = None  # (v2) the acquisition channel the money went to


@dataclass(frozen=True, slots=True)
class CashBalance(Event):
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class TicketOpened(Event):
    customer_id: str
    ticket_id: str | None = None  # (v2)


@dataclass(frozen=True, slots=True)
class TicketReplied(Event):
    """(v2) A reply by the support team to an open ticket."""

    customer_id: str
    ticket_id: str


@dataclass(frozen=True, slots=True)
class TicketResolved(Event):
    """(v2) The resolution that closes an open ticket."""

    customer_id: str
    ticket_id: str


@dataclass(frozen=True, slots=True)
class CsatResponse(Event):
    """(v2) A customer-satisfaction score, 1..5."""

    customer_id: str
    score: int


@dataclass(frozen=True, slots=True)
class Signup(Event):
    """(v2) A product sign-up (free plan or trial account)."""

    user_id: str
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class NpsResponse(Event):
    customer_id: str
    score: int


@dataclass(frozen=True, slots=True)
class FxRate(Event):
    """`rate` = units of the reporting currency per one major unit of `currency`."""

    currency: str
    rate: Fraction


@dataclass(frozen=True, slots=True)
class Usage(Event):
    user_id: str
    customer_id: str
    feature: str


@dataclass(frozen=True, slots=True)
class Visit(Event):
    visitor_id: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input that is not applied: its reason and the raw bytes it came from."""

    reason: str
    detail: str
    raw: bytes


SUBSCRIPTION_EVENTS = (
    TrialStarted,
    TrialEnded,
    SubscriptionStarted,
    SubscriptionChanged,
    SubscriptionPaused,
    SubscriptionResumed,
    SubscriptionCanceled,
    CustomerUpdated,
)


Setter = Callable[[Any, Any], None]


def slot_setters(cls: type[Event]) -> tuple[tuple[str, Setter], ...]:
    """(name, setter) of every field of `cls`, in dataclass order.

    A frozen dataclass `__init__` sets each field through `object.__setattr__`
    (~3 µs for a subscription event); setting the slots of an `object.__new__(cls)`
    builds the same (equal, hashable, still frozen) event in a third of the time.
    Only for builders whose values are already checked: `events.validate` after
    validation, `events.facts` for facts the engine wrote."""

    def setter(name: str) -> Setter:
        slot = next(k.__dict__[name] for k in cls.__mro__ if name in k.__dict__)
        set_: Setter = slot.__set__
        return set_

    return tuple((f.name, setter(f.name)) for f in fields(cls))
