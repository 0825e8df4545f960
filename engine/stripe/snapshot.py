"""Read a Stripe subscription object: its state and its recurring terms (SPEC §6).

Pure functions over the JSON of a Stripe `subscription` snapshot (the
`data.object` of a `customer.subscription.*` event). Field layouts follow
Stripe's own objects (stripe/openapi `fixtures3.json`): `items.data[].price`
(or the legacy `items.data[].plan`), `discount` / `discounts[]` with the coupon
at `coupon` or, in newer API versions, at `source.coupon`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from events.validate import MAX_AMOUNT

STATES: dict[str, str] = {
    "trialing": "trial",
    "active": "active",
    "past_due": "active",  # Stripe still retries: the subscription keeps its MRR
    "paused": "paused",
    "canceled": "canceled",
    "unpaid": "canceled",
    "incomplete_expired": "canceled",
    "incomplete": "incomplete",
}

_HUNDRED = Decimal(100)


class SnapshotError(ValueError):
    """A subscription object the connector cannot read (the Stripe event is rejected)."""


@dataclass(frozen=True)
class Terms:
    """What a started subscription costs, in SPEC §2.1 terms."""

    plan: str
    amount: int
    currency: str
    interval: str
    quantity: int | None  # None when Stripe's quantity is 0 or absent (SPEC needs >= 1)

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "plan": self.plan,
            "amount": self.amount,
            "currency": self.currency,
            "interval": self.interval,
        }
        if self.quantity is not None:
            out["quantity"] = self.quantity
        return out


def read_state(sub: dict[str, Any]) -> tuple[str, str | None]:
    """(state, cancel reason) of a snapshot; state is trial/active/paused/canceled/incomplete."""
    status = sub.get("status")
    state = STATES.get(status) if isinstance(status, str) else None
    if state is None:
        raise SnapshotError(f"unknown subscription status {str(status)[:40]!r}")
    if state != "canceled":
        return state, None
    details = sub.get("cancellation_details")
    stripe_reason = details.get("reason") if isinstance(details, dict) else None
    if status == "unpaid" or stripe_reason == "payment_failed":
        return state, "payment_failed"
    return state, stripe_reason if isinstance(stripe_reason, str) and stripe_reason else None


def read_terms(sub: dict[str, Any]) -> Terms:
    """Amount, interval, currency, plan and quantity of a snapshot (SPEC §6 rules)."""
    items = _items(sub)
    first = _price(items[0])
    base, count = _interval(first)
    period = sum((_item_amount(item) for item in items), Decimal(0))
    discounted = _discount(sub, period)
    if base == "month" and count == 3:
        interval, divisor = "quarter", 1
    else:
        interval, divisor = base, count
    amount = int((discounted / divisor).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if amount > MAX_AMOUNT:
        raise SnapshotError(f"subscription amount above {MAX_AMOUNT} minor units")
    return Terms(
        plan=_plan(first),
        amount=amount,
        currency=_currency(sub, first),
        interval=interval,
        quantity=_quantity(items[0]),
    )


def cancel_at_period_end(sub: dict[str, Any]) -> bool:
    return sub.get("cancel_at_period_end") is True


def _items(sub: dict[str, Any]) -> list[dict[str, Any]]:
    items = sub.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    if not isinstance(data, list) or not data or not all(isinstance(i, dict) for i in data):
        raise SnapshotError("subscription without items.data")
    return data


def _price(item: dict[str, Any]) -> dict[str, Any]:
    """The item's price; a legacy `plan` object is read as a price of the same shape."""
    price = item.get("price")
    if isinstance(price, dict):
        return price
    plan = item.get("plan")
    if isinstance(plan, dict):
        return {
            "id": plan.get("id"),
            "product": plan.get("product"),
            "currency": plan.get("currency"),
            "unit_amount": plan.get("amount"),
            "unit_amount_decimal": plan.get("amount_decimal"),
            "recurring": {
                "interval": plan.get("interval"),
                "interval_count": plan.get("interval_count"),
                "usage_type": plan.get("usage_type"),
            },
        }
    raise SnapshotError("subscription item without price")


def _recurring(price: dict[str, Any]) -> dict[str, Any]:
    recurring = price.get("recurring")
    if not isinstance(recurring, dict):
        raise SnapshotError("subscription item price is not recurring")
    return recurring


def _interval(price: dict[str, Any]) -> tuple[str, int]:
    recurring = _recurring(price)
    base = recurring.get("interval")
    raw_count = recurring.get("interval_count")
    count = 1 if raw_count is None else as_int(raw_count)
    if base not in {"day", "week", "month", "year"}:
        raise SnapshotError(f"unknown price interval {str(base)[:20]!r}")
    if count is None or count < 1:
        raise SnapshotError("price interval_count is not a positive integer")
    return str(base), count


def _item_amount(item: dict[str, Any]) -> Decimal:
    """unit amount × quantity of a licensed item; 0 for a metered one (usage is not MRR)."""
    price = _price(item)
    if _recurring(price).get("usage_type") == "metered":
        return Decimal(0)
    unit = as_int(price.get("unit_amount"))
    per_unit = Decimal(unit) if unit is not None else _decimal(price.get("unit_amount_decimal"))
    quantity = as_int(item.get("quantity"))
    return per_unit * (quantity if quantity is not None and quantity >= 0 else 1)


def _discount(sub: dict[str, Any], amount: Decimal) -> Decimal:
    """`amount` less the subscription's forever coupon, never below 0."""
    coupon = _coupon(sub)
    if coupon is None or coupon.get("duration") != "forever":
        return amount
    percent = _percent(coupon.get("percent_off"))
    if percent is not None:
        return max(Decimal(0), amount * (_HUNDRED - percent) / _HUNDRED)
    off = as_int(coupon.get("amount_off"))
    if off is not None:
        return max(Decimal(0), amount - off)
    return amount


def _coupon(sub: dict[str, Any]) -> dict[str, Any] | None:
    discount = sub.get("discount")
    if not isinstance(discount, dict):
        discounts = sub.get("discounts")
        first = discounts[0] if isinstance(discounts, list) and discounts else None
        discount = first if isinstance(first, dict) else None  # an unexpanded id says nothing
    if discount is None:
        return None
    coupon = discount.get("coupon")
    if not isinstance(coupon, dict):
        source = discount.get("source")
        coupon = source.get("coupon") if isinstance(source, dict) else None
    return coupon if isinstance(coupon, dict) else None


def _plan(price: dict[str, Any]) -> str:
    for value in (price.get("lookup_key"), _id_of(price.get("product")), price.get("id")):
        if isinstance(value, str) and value:
            return value
    raise SnapshotError("subscription item price without lookup_key, product or id")


def _currency(sub: dict[str, Any], price: dict[str, Any]) -> str:
    currency = currency_code(sub.get("currency") or price.get("currency"))
    if currency is None:
        raise SnapshotError("subscription without a three-letter currency")
    return currency


def currency_code(value: Any) -> str | None:
    """Stripe's lower-case ISO 4217 code in SPEC's upper case; None unless three letters
    (anything else would make an event the engine rejects as invalid_value)."""
    if not isinstance(value, str) or len(value) != 3 or not value.isascii():
        return None
    code = value.upper()
    return code if code.isalpha() else None


def _quantity(item: dict[str, Any]) -> int | None:
    quantity = as_int(item.get("quantity"))
    return quantity if quantity is not None and quantity >= 1 else None


def _id_of(value: Any) -> Any:
    """An expandable Stripe field: the id string, or the id of the expanded object."""
    return value.get("id") if isinstance(value, dict) else value


def id_of(value: Any) -> str | None:
    found = _id_of(value)
    return found if isinstance(found, str) and found else None


def _decimal(value: Any) -> Decimal:
    """A finite, non-negative decimal string as a Decimal, else 0."""
    try:
        number = Decimal(value) if isinstance(value, str) else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
    return number if number.is_finite() and number >= 0 else Decimal(0)


def as_int(value: Any) -> int | None:
    """A JSON integer (never a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _percent(value: Any) -> Decimal | None:
    """A coupon's percent_off (0..100) as an exact Decimal of its JSON text, else None."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    number = Decimal(str(value))
    return number if number.is_finite() and 0 <= number <= _HUNDRED else None
