"""Stripe events -> SPEC §2 events (SPEC §6), pure: no I/O, no clock, no Kafka.

`translate` reads one Stripe event object and the connector's `Memory` and
returns the derived events plus the memory updates to commit once Kafka has
acknowledged them. It never mutates the memory and never raises on bad input:
anything it cannot read is a `rejected` translation with its reason.

Memory keys: `sub:<id>` (subscription phase, known terms, last applied
(`created`, event id)), `cus:<id>` (last applied customer event), `ch:<id>`
(amount refunded so far), `evt:<id>` (applied invoice events).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.stripe import lifecycle
from engine.stripe.memory import Memory
from engine.stripe.snapshot import (
    SnapshotError,
    as_int,
    cancel_at_period_end,
    currency_code,
    id_of,
    read_state,
    read_terms,
)
from events.validate import MAX_AMOUNT

APPLIED, IGNORED, STALE, DUPLICATE, REJECTED = (
    "applied",
    "ignored",
    "stale",
    "duplicate",
    "rejected",
)
OUTCOMES = (APPLIED, IGNORED, STALE, DUPLICATE, REJECTED)
MAX_EVENT_ID = 100  # "stripe:" + id + ":n" stays within SPEC's 128 characters
MAX_CREATED = 4_102_444_800  # 2100-01-01: the engine refuses later timestamps


@dataclass(frozen=True)
class Translation:
    """What one Stripe event becomes: outcome, SPEC events, memory updates."""

    outcome: str
    events: list[dict[str, Any]] = field(default_factory=list)
    updates: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    stripe_type: str = ""


@dataclass(frozen=True)
class _Envelope:
    """The parts of a Stripe event object every handler needs."""

    id: str
    type: str
    created: int
    obj: dict[str, Any]

    @property
    def at(self) -> list[Any]:
        return [self.created, self.id]

    def derive(
        self, bodies: list[dict[str, Any]], customer_id: str, **common: Any
    ) -> list[dict[str, Any]]:
        """Number the bodies, stamp event_id/ts/customer_id on each."""
        ts = datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return [
            {
                "event_id": f"stripe:{self.id}:{n}",
                "type": body["type"],
                "ts": ts,
                "customer_id": customer_id,
                **common,
                **{k: v for k, v in body.items() if k != "type"},
            }
            for n, body in enumerate(bodies)
        ]


def translate(stripe_event: dict[str, Any], memory: Memory) -> Translation:
    """Translate one Stripe event (SPEC §6); see the module docstring."""
    kind = stripe_event.get("type") if isinstance(stripe_event, dict) else None
    unread = isinstance(kind, str) and kind != "" and _handler(kind) is None
    if unread and stripe_event.get("object") == "event":  # most of an account's events
        return Translation(IGNORED, stripe_type=_label(kind))
    envelope = _envelope(stripe_event)
    if isinstance(envelope, str):
        stripe_type = stripe_event.get("type") if isinstance(stripe_event, dict) else None
        return Translation(REJECTED, reason=envelope, stripe_type=_label(stripe_type))
    handler = _handler(envelope.type)
    if handler is None:
        return Translation(IGNORED, stripe_type=envelope.type)
    try:
        result = handler(envelope, memory)
    except SnapshotError as exc:
        return Translation(REJECTED, reason=str(exc), stripe_type=envelope.type)
    return Translation(result.outcome, result.events, result.updates, result.reason, envelope.type)


def _label(value: Any) -> str:
    return value[:64] if isinstance(value, str) else ""


def _envelope(raw: Any) -> _Envelope | str:
    """The event's id, type, created and data.object, or why it is not a Stripe event."""
    if not isinstance(raw, dict) or raw.get("object") != "event":
        return "not a Stripe event object"
    event_id, kind, created = raw.get("id"), raw.get("type"), raw.get("created")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID:
        return "event without a usable id"
    if not isinstance(kind, str) or not kind:
        return "event without a type"
    if not isinstance(created, int) or isinstance(created, bool) or not 0 <= created < MAX_CREATED:
        return "event without a valid created timestamp"
    data = raw.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        return "event without data.object"
    return _Envelope(event_id, kind, created, obj)


Handler = Callable[[_Envelope, Memory], Translation]


def reads(kind: str) -> bool:
    """Whether the mapping reads Stripe events of this type (all others are ignored)."""
    return _handler(kind) is not None


def _handler(kind: str) -> Handler | None:
    if kind.startswith("customer.subscription."):
        return _subscription
    return _HANDLERS.get(kind)


def _order(memory: Memory, key: str, envelope: _Envelope) -> str | None:
    """STALE or DUPLICATE when this event is not newer than the last applied one of `key`."""
    entry = memory.get(key)
    last = entry.get("at") if isinstance(entry, dict) else None
    if not isinstance(last, list) or len(last) != 2:
        return None
    mine = (envelope.created, envelope.id)
    theirs = (last[0], last[1])
    if mine == theirs:
        return DUPLICATE
    return STALE if mine < theirs else None


def _subscription(envelope: _Envelope, memory: Memory) -> Translation:
    sub = envelope.obj
    sub_id, customer = id_of(sub.get("id")), id_of(sub.get("customer"))
    if sub.get("object") != "subscription" or sub_id is None or customer is None:
        return Translation(
            REJECTED, reason="data.object is not a subscription with id and customer"
        )
    state, reason = read_state(sub)
    if state == "incomplete":
        return Translation(IGNORED)
    terms = None if state == "canceled" else read_terms(sub)  # a cancellation needs no terms
    key = f"sub:{sub_id}"
    order = _order(memory, key, envelope)
    if order is not None:
        return Translation(order)
    entry = memory.get(key) or {}
    if terms is None:
        bodies, new_entry = lifecycle.cancel(entry, reason)
    else:
        bodies, new_entry = lifecycle.step(entry, state, terms, cancel_at_period_end(sub))
    new_entry["at"] = envelope.at
    events = envelope.derive(bodies, customer, subscription_id=sub_id)
    return Translation(APPLIED, events, {key: new_entry})


def _customer(envelope: _Envelope, memory: Memory) -> Translation:
    """Country and channel, each as of the newest Stripe event that carried it.

    Attributes are sticky in the engine, so a customer event that lacks one
    keeps the older value. Remembering, per attribute, the event that last set
    it makes any delivery order end where the ordered stream ends: a late older
    event still gives an attribute no newer event has set.
    """
    obj = envelope.obj
    customer = id_of(obj.get("id"))
    if obj.get("object") != "customer" or customer is None:
        return Translation(REJECTED, reason="data.object is not a customer with id")
    key = f"cus:{customer}"
    if _order(memory, key, envelope) == DUPLICATE:
        return Translation(DUPLICATE)
    entry = memory.get(key) or {}
    mine = (envelope.created, envelope.id)
    fresh = {
        name: value
        for name, value in _attributes(obj).items()
        if not isinstance(entry.get(name), list) or mine > tuple(entry[name])
    }
    last = entry.get("at")
    newest = not isinstance(last, list) or mine > tuple(last)
    if not fresh and not newest:
        seen = envelope.at in (entry.get("country"), entry.get("channel"))
        return Translation(DUPLICATE if seen else STALE)
    updated = {**entry, **{name: envelope.at for name in fresh}}
    updated["at"] = envelope.at if newest else last
    bodies = [{"type": "customer.updated", **fresh}] if fresh else []
    return Translation(APPLIED, envelope.derive(bodies, customer), {key: updated})


def _attributes(obj: dict[str, Any]) -> dict[str, str]:
    """`country` from `address.country`, `channel` from `metadata.channel`, when present."""
    found: dict[str, str] = {}
    address = obj.get("address")
    country = address.get("country") if isinstance(address, dict) else None
    if isinstance(country, str) and country:
        found["country"] = country.upper()  # Stripe's ISO codes are upper case already
    metadata = obj.get("metadata")
    channel = metadata.get("channel") if isinstance(metadata, dict) else None
    if isinstance(channel, str) and channel:
        found["channel"] = channel
    return found


def _invoice(field_name: str, spec_type: str) -> Handler:
    def handle(envelope: _Envelope, memory: Memory) -> Translation:
        obj = envelope.obj
        customer, money = id_of(obj.get("customer")), _money(obj, field_name)
        if obj.get("object") != "invoice" or customer is None:
            return Translation(REJECTED, reason="data.object is not an invoice with a customer")
        if money is None:
            return Translation(REJECTED, reason=f"invoice without {field_name} and currency")
        key = f"evt:{envelope.id}"
        if memory.get(key) is not None:
            return Translation(DUPLICATE)
        body = _payment(spec_type, money, obj.get("id"))
        return Translation(APPLIED, envelope.derive([body], customer), {key: envelope.created})

    return handle


def _refund(envelope: _Envelope, memory: Memory) -> Translation:
    """The newly refunded part of a charge: `amount_refunded` is cumulative in Stripe."""
    obj = envelope.obj
    charge, customer = id_of(obj.get("id")), id_of(obj.get("customer"))
    money = _money(obj, "amount_refunded")
    if obj.get("object") != "charge" or charge is None or customer is None:
        return Translation(REJECTED, reason="data.object is not a charge with id and customer")
    if money is None:
        return Translation(REJECTED, reason="charge without amount_refunded and currency")
    key = f"ch:{charge}"
    before = as_int(memory.get(key)) or 0
    refunded, currency = money
    if refunded <= before:
        return Translation(DUPLICATE if refunded == before else STALE)
    body = _payment("payment.refunded", (refunded - before, currency), obj.get("invoice"))
    return Translation(APPLIED, envelope.derive([body], customer), {key: refunded})


def _payment(spec_type: str, money: tuple[int, str], invoice: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": spec_type, "amount": money[0], "currency": money[1]}
    invoice_id = id_of(invoice)
    if invoice_id is not None:
        body["invoice_id"] = invoice_id
    return body


def _money(obj: dict[str, Any], field_name: str) -> tuple[int, str] | None:
    """(amount, upper-case currency) of a Stripe object, or None when either is unusable."""
    amount, currency = as_int(obj.get(field_name)), currency_code(obj.get("currency"))
    if amount is None or not 0 <= amount <= MAX_AMOUNT or currency is None:
        return None
    return amount, currency


_HANDLERS: dict[str, Handler] = {
    "customer.created": _customer,
    "customer.updated": _customer,
    "invoice.paid": _invoice("amount_paid", "payment.succeeded"),
    "invoice.payment_failed": _invoice("amount_due", "payment.failed"),
    "charge.refunded": _refund,
}
