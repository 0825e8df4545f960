"""Decoding, routing and the static validation rules of SPEC §2/§2.5 and docs/definitions.md."""

from __future__ import annotations

import math
import re
from datetime import date
from fractions import Fraction
from typing import Any

import orjson

MAX_MESSAGE_BYTES = 1024 * 1024
SECONDS_PER_DAY = 86400
TS_MIN = 0  # 1970-01-01T00:00:00Z
TS_END = (date(2100, 1, 1).toordinal() - date(1970, 1, 1).toordinal()) * SECONDS_PER_DAY
INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # the integers orjson represents exactly

TOPIC_OF_TYPE = {
    "trial.started": "subscriptions",
    "trial.ended": "subscriptions",
    "subscription.started": "subscriptions",
    "subscription.changed": "subscriptions",
    "subscription.paused": "subscriptions",
    "subscription.resumed": "subscriptions",
    "subscription.canceled": "subscriptions",
    "customer.updated": "subscriptions",
    "payment.succeeded": "payments",
    "payment.failed": "payments",
    "payment.refunded": "payments",
    "usage": "usage",
    "visit": "usage",
    "lead.created": "business",
    "spend": "business",
    "cash.balance": "business",
    "ticket.opened": "business",
    "ticket.replied": "business",
    "ticket.resolved": "business",
    "nps.response": "business",
    "csat.response": "business",
    "signup": "business",
    "fx.rate": "business",
}

# Field kinds: how a field's JSON type and value are judged (see _type_ok, _value_reason).
SUB = {"customer_id": "id", "subscription_id": "id"}
PLAN_TERMS = {
    "plan": "plan",
    "amount": "amount",
    "currency": "currency",
    "interval": "interval",
    "quantity": "quantity",
    "cancel_at_period_end": "flag",
}
MONEY = {"amount": "amount", "currency": "currency"}
# type -> (required fields, optional fields)
SCHEMA: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "trial.started": ({**SUB, "plan": "plan"}, {}),
    "subscription.started": (
        {**SUB, "plan": "plan", **MONEY, "interval": "interval"},
        {"quantity": "quantity"},
    ),
    "subscription.changed": (SUB, PLAN_TERMS),
    "subscription.paused": (SUB, {}),
    "subscription.resumed": (SUB, {}),
    "subscription.canceled": (SUB, {"reason": "text"}),
    "trial.ended": (SUB, {}),
    "payment.succeeded": ({"customer_id": "id", **MONEY}, {"invoice_id": "id"}),
    "payment.failed": ({"customer_id": "id", **MONEY}, {"invoice_id": "id"}),
    "payment.refunded": ({"customer_id": "id", **MONEY}, {"invoice_id": "id"}),
    "usage": ({"user_id": "id", "customer_id": "id", "feature": "feature"}, {}),
    "visit": ({"visitor_id": "id"}, {}),
    "lead.created": ({"lead_id": "id"}, {"channel": "text"}),
    "spend": ({"category": "category", **MONEY}, {"channel": "text"}),
    "cash.balance": (MONEY, {}),
    "ticket.opened": ({"customer_id": "id"}, {"ticket_id": "id"}),
    "ticket.replied": ({"customer_id": "id", "ticket_id": "id"}, {}),
    "ticket.resolved": ({"customer_id": "id", "ticket_id": "id"}, {}),
    "nps.response": ({"customer_id": "id", "score": "score"}, {}),
    "csat.response": ({"customer_id": "id", "score": "csat"}, {}),
    "signup": ({"user_id": "id"}, {"channel": "text"}),
    "customer.updated": ({"customer_id": "id"}, {"country": "country", "channel": "channel"}),
    "fx.rate": ({"currency": "currency", "rate": "rate"}, {}),
}
COMMON = ("event_id", "type", "ts")
NEEDS_SUBSCRIPTION = {
    "subscription.changed",
    "subscription.paused",
    "subscription.resumed",
    "subscription.canceled",
}
INTERVALS = {"day", "week", "month", "quarter", "year"}
CATEGORIES = {"sales", "marketing", "cogs", "opex"}
MAX_AMOUNT = 10**15  # docs/definitions.md: a larger amount is invalid_value
MAX_RATE = 10**9  # docs/definitions.md: a larger fx rate is invalid_value
MONTHLY = {
    "day": Fraction(365, 12),
    "week": Fraction(52, 12),
    "month": Fraction(1),
    "quarter": Fraction(1, 3),
    "year": Fraction(1, 12),
}
EXPONENT_0 = {
    "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF",
    "PYG", "RWF", "KMF", "GNF", "DJF", "BIF", "VUV", "XPF",
}  # fmt: skip
EXPONENT_3 = {"BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"}
SIGN = {"new": 1, "expansion": 1, "reactivation": 1, "contraction": -1, "churn": -1}
KINDS = ("new", "expansion", "contraction", "churn", "reactivation", "involuntary_churn")
MOVEMENT_WINDOWS = ("1d", "7d", "30d", "90d")
ACTIVITY_WINDOWS = ("1d", "7d", "30d")
TS_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
JSON_TOKEN_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?')


def exponent(currency: str) -> int:
    """ISO 4217 minor-unit exponent, per docs/definitions.md."""
    if currency in EXPONENT_0:
        return 0
    if currency in EXPONENT_3:
        return 3
    return 2


# ---------------------------------------------------------------- decoding


def _has_huge_integer(text: str) -> bool:
    """True if valid JSON `text` holds an integer literal outside 64 bits.

    orjson 3.13 silently turns such literals into floats; the definitions want
    them rejected as invalid_json, so we look at the literals themselves.
    """
    for match in JSON_TOKEN_RE.finditer(text):
        token = match.group()
        if token[0] == '"' or any(c in token for c in ".eE"):
            continue
        if len(token.lstrip("-")) > 20 or not INT_MIN <= int(token) <= INT_MAX:
            return True
    return False


def _decode(raw: bytes | bytearray | memoryview | str) -> tuple[bool, Any]:
    """(ok, value) for one message, applying every invalid_json rule."""
    if isinstance(raw, str):
        try:
            data = raw.encode("utf-8")
        except UnicodeEncodeError:
            return False, None
    else:
        data = bytes(raw)
    data = data.rstrip(b"\r\n")
    if len(data) > MAX_MESSAGE_BYTES:
        return False, None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False, None
    # docs/definitions.md: orjson reads integers beyond 64 bits as floats, so
    # they fail the field's type check (wrong_type) like any other float.
    return True, value


def route(obj_or_raw: Any) -> str:
    """Topic suffix `streamkpi ingest` sends a JSONL line (raw or parsed) to."""
    value = obj_or_raw
    if isinstance(value, bytes | bytearray | memoryview | str):
        ok, value = _decode(value)
        if not ok:
            return "business"
    if isinstance(value, list):
        return "usage"
    if isinstance(value, dict):
        kind = value.get("type")
        if isinstance(kind, str) and kind in TOPIC_OF_TYPE:
            return TOPIC_OF_TYPE[kind]
    return "business"


# ---------------------------------------------------------------- validation


def parse_ts(text: str) -> Fraction | None:
    """Epoch seconds (exact) of an RFC 3339 timestamp with offset, or None."""
    m = TS_RE.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        days = date(year, month, day).toordinal() - date(1970, 1, 1).toordinal()
    except ValueError:
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    offset = 0
    zone = m.group(8)
    if zone not in ("Z", "z"):
        off_h, off_m = int(zone[1:3]), int(zone[4:6])
        if off_h > 23 or off_m > 59:
            return None
        offset = (off_h * 3600 + off_m * 60) * (1 if zone[0] == "+" else -1)
    fraction = Fraction(m.group(7)) if m.group(7) else Fraction(0)  # Fraction(".25")
    seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset + fraction
    if not TS_MIN <= seconds < TS_END:
        return None
    return seconds


def day_of(ts: Fraction) -> int:
    """UTC day number (days since 1970-01-01) of epoch seconds `ts`."""
    return math.floor(ts / SECONDS_PER_DAY)


def month_of(ts: Fraction) -> int:
    """UTC month of epoch seconds `ts` as year × 12 + (month − 1)."""
    utc = date.fromordinal(date(1970, 1, 1).toordinal() + day_of(ts))
    return utc.year * 12 + utc.month - 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_ok(kind: str, value: Any) -> bool:
    if kind in ("amount", "quantity", "score", "csat"):
        return _is_int(value)
    if kind == "rate":
        return _is_int(value) or isinstance(value, float)
    if kind == "flag":
        return isinstance(value, bool)  # 0/1 and "true" are wrong_type (BOARD)
    return isinstance(value, str)


def _value_reason(kind: str, value: Any) -> str | None:
    """The reason a well-typed field value fails, in the definitions' order."""
    invalid = (
        (kind in ("id", "plan", "feature") and value == "")
        or (kind == "currency" and re.fullmatch(r"[A-Z]{3}", value) is None)
        or (kind == "interval" and value not in INTERVALS)
        or (kind == "category" and value not in CATEGORIES)
        or (kind == "score" and not 0 <= value <= 10)
        or (kind == "csat" and not 1 <= value <= 5)
        or (kind == "rate" and not 0 < value <= MAX_RATE)
        or (kind == "amount" and value > MAX_AMOUNT)
        or (kind == "country" and re.fullmatch(r"[A-Z]{2}", value) is None)
        or (kind == "channel" and not 1 <= len(value) <= 64)
    )
    if invalid:
        return "invalid_value"
    if kind == "amount" and value < 0:
        return "negative_amount"
    if kind == "quantity" and value < 1:
        return "invalid_quantity"
    return None


def validate(obj: dict[str, Any], topic: str) -> str | None:
    """Static checks of SPEC §2.5 in the definitions' order; None if all pass.

    docs/definitions.md: common fields (missing, then type), unknown_type,
    wrong_topic, the type's own fields (missing, then type), invalid_ts, values.
    """
    if any(obj.get(name) is None for name in COMMON):
        return "missing_field"
    if not all(isinstance(obj[name], str) for name in COMMON):
        return "wrong_type"
    kind = obj["type"]
    if kind not in TOPIC_OF_TYPE:
        return "unknown_type"
    if TOPIC_OF_TYPE[kind] != topic:
        return "wrong_topic"
    required, optional = SCHEMA[kind]
    if any(obj.get(name) is None for name in required):
        return "missing_field"
    # An optional field that is null counts as absent.
    fields = {n: k for n, k in {**required, **optional}.items() if obj.get(n) is not None}
    if not all(_type_ok(k, obj[n]) for n, k in fields.items()):
        return "wrong_type"
    if parse_ts(obj["ts"]) is None:
        return "invalid_ts"
    if not 1 <= len(obj["event_id"]) <= 128:
        return "invalid_value"
    reasons = {_value_reason(k, obj[n]) for n, k in fields.items()}
    for reason in ("invalid_value", "negative_amount", "invalid_quantity"):
        if reason in reasons:
            return reason
    return None
