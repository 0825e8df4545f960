"""An independent, literal batch recomputation of SPEC §3/§4 (the test oracle).

Integration tests feed the same JSONL file to the engine and to `compute()` and
compare the scraped /metrics page with the result. Everything here is written
from ../shared/SPEC.md and docs/definitions.md alone: it imports nothing from
`events/`, `tables/` or `engine/`, keeps every raw event it applies, recomputes
each KPI from those lists at the end, and does all arithmetic with `int` and
`Fraction` until the final `float`. It is meant to be obviously right, not fast.

SPEC v2 (customer attributes and segments, cohorts, committed MRR, tickets,
CSAT, signups, burn multiple, the plan cap) is covered the same way. Where
SPEC leaves room, the reading taken here is written next to the code as
"Reading:"; docs/definitions.md is meant to say the same.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
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


# ---------------------------------------------------------------- state


@dataclass
class Subscription:
    status: str  # "trial", "active", "trial_ended", "canceled"
    plan: str
    amount: int | None = None
    currency: str | None = None
    interval: str | None = None
    rate: Fraction | None = None  # pinned fx rate (reporting per major unit)
    paused: bool = False
    scheduled: bool = False  # v2: cancel_at_period_end true and not cleared

    def mrr(self) -> Fraction:
        """Monthly recurring revenue in major units of the reporting currency."""
        if self.status != "active" or self.paused:
            return Fraction(0)
        assert self.amount is not None and self.currency is not None
        assert self.interval is not None and self.rate is not None
        major = Fraction(self.amount, 10 ** exponent(self.currency))
        return major * self.rate * MONTHLY[self.interval]


@dataclass(frozen=True)
class Movement:
    """One MRR movement (SPEC §3), with what v2 segments and cohorts need."""

    ts: Fraction
    kind: str
    amount: Fraction
    customer: str

    @property
    def day(self) -> int:
        return day_of(self.ts)


@dataclass
class Ticket:
    """An open ticket (v2): its first open time and whether it was answered."""

    opened: Fraction
    replied: bool = False


class Book:
    """Every applied event, kept raw enough to recompute each KPI at the end."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.seq = 0
        self.asof: Fraction | None = None
        self.applied_ids: set[str] = set()
        self.processed: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.fx: dict[str, list[tuple[Fraction, int, Fraction]]] = defaultdict(list)
        self.subs: dict[str, dict[str, Subscription]] = defaultdict(dict)
        self.had_mrr: set[str] = set()
        self.trialed: set[tuple[str, str]] = set()
        self.started: set[tuple[str, str]] = set()
        self.cash: tuple[Fraction, int, Fraction] | None = None  # (ts, seq, amount)
        # v2 customer attributes: dimension -> customer -> value (sticky).
        self.attributes: dict[str, dict[str, str]] = {"country": {}, "channel": {}}
        self.open_tickets: dict[tuple[str, str], Ticket] = {}  # never forgotten here
        # Windowed facts, each with the UTC day number of its event's ts first.
        self.movements: list[Movement] = []
        self.trial_starts: list[int] = []
        self.conversions: list[int] = []
        self.trial_ends: list[int] = []
        self.revenue: list[tuple[int, Fraction]] = []  # (day, +succeeded / -refunded)
        self.spend: list[tuple[int, str, Fraction, str | None]] = []  # (day, cat, amount, chan)
        self.leads: list[int] = []
        self.tickets: list[int] = []  # every applied ticket.opened
        self.resolutions: list[tuple[int, Fraction]] = []  # (day, seconds open, >= 0)
        self.first_replies: list[tuple[int, Fraction]] = []  # (day, seconds to reply, >= 0)
        self.nps: list[tuple[int, int]] = []  # (day, score)
        self.csat: list[tuple[int, int]] = []  # (day, score)
        self.signups: list[int] = []
        self.usage: list[tuple[int, str, str, str]] = []  # (day, user, customer, feature)
        self.visits: list[tuple[int, str]] = []  # (day, visitor)

    # -- money

    def rate(self, currency: str, ts: Fraction) -> Fraction | None:
        """Latest fx rate with ts <= `ts` (ties: applied last); 1 for reporting."""
        if currency == self.currency:
            return Fraction(1)
        candidates = [(t, s, r) for t, s, r in self.fx[currency] if t <= ts]
        return max(candidates)[2] if candidates else None

    def convert(self, amount: int, currency: str, ts: Fraction) -> Fraction:
        rate = self.rate(currency, ts)
        assert rate is not None
        return Fraction(amount, 10 ** exponent(currency)) * rate

    # -- one event

    def handle(self, obj: dict[str, Any], topic_suffix: str, topic: str) -> None:
        reason = validate(obj, topic_suffix)
        if reason is not None:
            self.rejected[reason] += 1
            return
        if obj["event_id"] in self.applied_ids:
            self.duplicates[topic] += 1
            return
        ts = parse_ts(obj["ts"])
        assert ts is not None  # validate() accepted it
        reason = self.state_reason(obj, ts)
        if reason is not None:
            self.rejected[reason] += 1
            return
        self.seq += 1
        self.apply(obj, ts)
        self.applied_ids.add(obj["event_id"])
        self.processed[topic] += 1
        self.asof = ts if self.asof is None else max(self.asof, ts)

    def state_reason(self, obj: dict[str, Any], ts: Fraction) -> str | None:
        kind = obj["type"]
        sub = None
        if "subscription_id" in SCHEMA[kind][0]:
            sub = self.subs.get(obj["customer_id"], {}).get(obj["subscription_id"])
        required, optional = SCHEMA[kind]
        money = kind != "fx.rate" and "currency" in {**required, **optional}
        currency = obj.get("currency") if money else None
        if kind == "subscription.changed" and currency is None and obj.get("amount") is not None:
            currency = sub.currency if sub is not None else None  # re-pins the current one
        if currency is not None and self.rate(currency, ts) is None:
            return "unknown_currency"
        if kind in NEEDS_SUBSCRIPTION and sub is None:
            return "unknown_subscription"
        ticket = (obj.get("customer_id"), obj.get("ticket_id"))
        if kind in ("ticket.replied", "ticket.resolved") and ticket not in self.open_tickets:
            return "unknown_ticket"
        return None

    def apply(self, e: dict[str, Any], ts: Fraction) -> None:
        kind, day = e["type"], day_of(ts)
        if kind == "customer.updated":
            for dimension, values in self.attributes.items():
                if e.get(dimension) is not None:  # absent keeps the value (sticky)
                    values[e["customer_id"]] = e[dimension]
        elif TOPIC_OF_TYPE[kind] == "subscriptions":
            self.apply_subscription(e, ts)
        elif kind in ("payment.succeeded", "payment.refunded"):
            sign = 1 if kind == "payment.succeeded" else -1
            self.revenue.append((day, sign * self.convert(e["amount"], e["currency"], ts)))
        elif kind == "spend":
            amount = self.convert(e["amount"], e["currency"], ts)
            self.spend.append((day, e["category"], amount, e.get("channel")))
        elif kind == "cash.balance":
            balance = (ts, self.seq, self.convert(e["amount"], e["currency"], ts))
            self.cash = balance if self.cash is None else max(self.cash, balance)
        elif kind == "fx.rate" and e["currency"] != self.currency:
            self.fx[e["currency"]].append((ts, self.seq, Fraction(e["rate"])))
        elif kind == "lead.created":
            self.leads.append(day)
        elif kind.startswith("ticket."):
            self.apply_ticket(e, ts)
        elif kind == "nps.response":
            self.nps.append((day, e["score"]))
        elif kind == "csat.response":
            self.csat.append((day, e["score"]))
        elif kind == "signup":
            self.signups.append(day)
        elif kind == "usage":
            self.usage.append((day, e["user_id"], e["customer_id"], e["feature"]))
        elif kind == "visit":
            self.visits.append((day, e["visitor_id"]))

    def apply_ticket(self, e: dict[str, Any], ts: Fraction) -> None:
        """SPEC §2.3 (v2). Reading: a ticket.opened without ticket_id is counted
        but can never be replied to; one whose ticket is already open is counted
        and keeps the first open time (first in log order) and its reply state;
        a resolution closes the ticket, and an opening after that starts a new
        ticket with the same id (new open time, its first reply counts again)."""
        kind, day = e["type"], day_of(ts)
        key = (e["customer_id"], e.get("ticket_id"))
        if kind == "ticket.opened":
            self.tickets.append(day)
            if key[1] is not None and key not in self.open_tickets:
                self.open_tickets[key] = Ticket(opened=ts)
            return
        ticket = self.open_tickets[key]  # state_reason rejected unknown_ticket
        waited = max(ts - ticket.opened, Fraction(0))  # a negative duration counts as 0
        if kind == "ticket.resolved":
            self.resolutions.append((day, waited))
            del self.open_tickets[key]
        elif not ticket.replied:  # only the first reply counts
            ticket.replied = True
            self.first_replies.append((day, waited))

    # -- subscriptions

    def customer_mrr(self, customer: str) -> Fraction:
        return sum((s.mrr() for s in self.subs[customer].values()), Fraction(0))

    def apply_subscription(self, e: dict[str, Any], ts: Fraction) -> None:
        customer = e["customer_id"]
        old = self.customer_mrr(customer)
        self.change_subscription(e, ts)
        new = self.customer_mrr(customer)
        if new == old:
            return
        if old == 0:
            kind = "reactivation" if customer in self.had_mrr else "new"
        elif new == 0:
            kind = "churn"
        else:
            kind = "expansion" if new > old else "contraction"
        self.movements.append(Movement(ts, kind, abs(new - old), customer))
        involuntary = e["type"] == "subscription.canceled" and e.get("reason") == "payment_failed"
        if kind == "churn" and involuntary:
            self.movements.append(Movement(ts, "involuntary_churn", abs(new - old), customer))
        if new > 0:
            self.had_mrr.add(customer)

    def change_subscription(self, e: dict[str, Any], ts: Fraction) -> None:
        kind, key = e["type"], (e["customer_id"], e["subscription_id"])
        sub = self.subs[key[0]].get(key[1])
        if kind == "trial.started":
            # Reading: a trial.started does not clear a cancellation schedule
            # (SPEC names only subscription.canceled and subscription.started).
            if sub is None:
                self.subs[key[0]][key[1]] = Subscription(status="trial", plan=e["plan"])
            else:
                sub.status, sub.plan, sub.paused = "trial", e["plan"], False
            self.trialed.add(key)
            self.trial_starts.append(day_of(ts))
        elif kind == "subscription.started":
            if key in self.trialed and key not in self.started:
                self.conversions.append(day_of(ts))
            self.started.add(key)
            # A new Subscription: also clears a cancellation schedule (SPEC §2.1 v2).
            self.subs[key[0]][key[1]] = Subscription(
                status="active",
                plan=e["plan"],
                amount=e["amount"],
                currency=e["currency"],
                interval=e["interval"],
                rate=self.rate(e["currency"], ts),
            )
        elif kind == "trial.ended":
            self.trial_ends.append(day_of(ts))
            if sub is not None and sub.status == "trial":
                sub.status = "trial_ended"
        else:
            assert sub is not None
            self.change_existing(sub, e, ts)

    def change_existing(self, sub: Subscription, e: dict[str, Any], ts: Fraction) -> None:
        kind = e["type"]
        if kind == "subscription.changed":
            for name in ("plan", "amount", "currency", "interval"):
                if e.get(name) is not None:
                    setattr(sub, name, e[name])
            repin = e.get("amount") is not None or e.get("currency") is not None
            if repin and sub.currency is not None:
                sub.rate = self.rate(sub.currency, ts)
            if e.get("cancel_at_period_end") is not None:
                sub.scheduled = e["cancel_at_period_end"]  # true schedules, false withdraws
        elif kind == "subscription.paused":
            sub.paused = True
        elif kind == "subscription.resumed":
            sub.paused = False
        elif kind == "subscription.canceled":
            sub.status, sub.paused, sub.scheduled = "canceled", False, False


# ---------------------------------------------------------------- results


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _to_float(value: Fraction | int) -> float:
    """The gauge value; ±inf beyond float range (e.g. 2**64 minor units x rate 1e308)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def sample_key(name: str, **labels: str) -> str:
    """`name{a="x",b="y"}` with labels sorted by name, or `name` alone."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


class Results:
    """Recomputes every SPEC §4 series from a Book."""

    def __init__(self, book: Book, max_features: int, max_plans: int, max_segments: int) -> None:
        self.book = book
        self.max_features = max_features
        self.max_plans = max_plans
        self.max_segments = max_segments
        self.out: dict[str, Fraction | int] = {}
        self.customer_mrr = {c: book.customer_mrr(c) for c in book.subs}
        self.paying = {c: m for c, m in self.customer_mrr.items() if m > 0}
        self.mrr = sum(self.paying.values(), Fraction(0))
        self.arpa = self.mrr / len(self.paying) if self.paying else None
        self.last_day = None if book.asof is None else day_of(book.asof)

    def put(self, name: str, value: Fraction | int, **labels: str) -> None:
        self.out[sample_key(name, **labels)] = value

    def in_window(self, day: int, days: int) -> bool:
        """`day` lies in the `days`-day window ending on day(T) (inclusive)."""
        if self.last_day is None:
            return False
        return self.last_day - days + 1 <= day <= self.last_day

    def moved(self, kind: str, days: int) -> tuple[int, Fraction]:
        """(count, amount) of movements of `kind` in the window."""
        found = [
            m.amount for m in self.book.movements if m.kind == kind and self.in_window(m.day, days)
        ]
        return len(found), sum(found, Fraction(0))

    def window_moves(self, customers: set[str]) -> tuple[Counter[str], dict[str, Fraction]]:
        """(count, amount) per kind of the 30-day movements of `customers`."""
        counts: Counter[str] = Counter()
        sums: dict[str, Fraction] = defaultdict(Fraction)
        for m in self.book.movements:
            if m.customer in customers and self.in_window(m.day, 30):
                counts[m.kind] += 1
                sums[m.kind] += m.amount
        return counts, sums

    def all(self) -> dict[str, float]:
        self.mrr_series()
        self.movement_series()
        self.churn_series()
        self.money_series()
        self.activity_series()
        self.customer_series()
        self.committed_series()
        for dimension in self.book.attributes:
            self.segment_series(dimension)
        self.cohort_series()
        self.support_series()
        self.counter_series()
        return {k: _to_float(v) for k, v in self.out.items()}

    def mrr_series(self) -> None:
        self.put("saas_mrr", self.mrr)
        self.put("saas_arr", 12 * self.mrr)
        self.put("saas_paying_customers", len(self.paying))
        if self.arpa is not None:
            self.put("saas_arpa", self.arpa)
        plan_mrr: dict[str, Fraction] = defaultdict(Fraction)
        plan_customers: dict[str, set[str]] = defaultdict(set)
        for customer, subs in self.book.subs.items():
            for sub in subs.values():
                if sub.mrr() > 0:
                    plan_mrr[sub.plan] += sub.mrr()
                    plan_customers[sub.plan].add(customer)
        # SPEC §4 v2: the top max_plans plans by MRR (ties by name), the rest under "other".
        # Reading: plan="other" customers is the sum of the merged plans' counts ("summed").
        ranked = sorted(plan_mrr, key=lambda p: (-plan_mrr[p], p))
        groups = {p: [p] for p in ranked[: self.max_plans]}
        if ranked[self.max_plans :]:
            groups["other"] = groups.get("other", []) + ranked[self.max_plans :]
        for label, plans in groups.items():
            mrr = sum((plan_mrr[p] for p in plans), Fraction(0))
            self.put("saas_plan_mrr", mrr, plan=label)
            customers = sum(len(plan_customers[p]) for p in plans)
            self.put("saas_plan_customers", customers, plan=label)

    def movement_series(self) -> None:
        for kind in KINDS:
            total = sum((m.amount for m in self.book.movements if m.kind == kind), Fraction(0))
            self.put("saas_mrr_movement_total", total, kind=kind)
            for window in MOVEMENT_WINDOWS:
                self.put(
                    "saas_mrr_movement",
                    self.moved(kind, int(window[:-1]))[1],
                    kind=kind,
                    window=window,
                )

    def churn_series(self) -> None:
        (n_new, m_new), (n_react, m_react) = self.moved("new", 30), self.moved("reactivation", 30)
        (n_churn, m_churn), (_, m_exp) = self.moved("churn", 30), self.moved("expansion", 30)
        m_contr = self.moved("contraction", 30)[1]
        mrr_start = self.mrr - (m_new + m_react + m_exp - m_contr - m_churn)
        c_start = len(self.paying) - (n_new + n_react - n_churn)
        w = {"window": "30d"}
        if c_start != 0:
            self.put("saas_customer_churn_rate", Fraction(n_churn, c_start), **w)
        if mrr_start != 0:
            self.put("saas_gross_mrr_churn_rate", (m_churn + m_contr) / mrr_start, **w)
            self.put(
                "saas_net_mrr_churn_rate", (m_churn + m_contr - m_exp - m_react) / mrr_start, **w
            )
            self.put("saas_nrr", (mrr_start - m_churn - m_contr + m_exp) / mrr_start, **w)
            self.put("saas_grr", (mrr_start - m_churn - m_contr) / mrr_start, **w)
        if m_churn + m_contr != 0:
            self.put("saas_quick_ratio", (m_new + m_exp + m_react) / (m_churn + m_contr), **w)

    def money_series(self) -> None:
        book, w = self.book, {"window": "30d"}
        revenue = sum((a for d, a in book.revenue if self.in_window(d, 30)), Fraction(0))
        spend = [(c, a) for d, c, a, _ in book.spend if self.in_window(d, 30)]
        cogs = sum((a for c, a in spend if c == "cogs"), Fraction(0))
        acquisition = sum((a for c, a in spend if c in ("sales", "marketing")), Fraction(0))
        burn = sum((a for _, a in spend), Fraction(0)) - revenue
        self.put("saas_revenue", revenue, **w)
        self.put("saas_burn", burn, **w)
        margin = Fraction(1)
        if revenue != 0:
            margin = (revenue - cogs) / revenue
            self.put("saas_gross_margin", margin, **w)
        if burn > 0 and book.cash is not None:
            self.put("saas_runway_months", book.cash[2] / burn, **w)
        net_new = self.net_new_mrr()
        if burn > 0 and net_new > 0:
            self.put("saas_burn_multiple", burn / (12 * net_new), **w)
        churn_rate = self.out.get(sample_key("saas_customer_churn_rate", **w))
        ltv = cac = None
        if self.arpa is not None and churn_rate:
            ltv = self.arpa * margin / churn_rate
            self.put("saas_ltv", ltv, **w)
        n_new = self.moved("new", 30)[0]
        if n_new > 0:
            cac = acquisition / n_new
            self.put("saas_cac", cac, **w)
        if ltv is not None and cac:
            self.put("saas_ltv_cac_ratio", ltv / cac, **w)
        if cac is not None and self.arpa is not None and self.arpa * margin != 0:
            self.put("saas_cac_payback_months", cac / (self.arpa * margin), **w)

    def net_new_mrr(self) -> Fraction:
        """M_new + M_reactivation + M_expansion − M_contraction − M_churn over 30 d."""
        sign = {"new": 1, "reactivation": 1, "expansion": 1, "contraction": -1, "churn": -1}
        return sum((s * self.moved(k, 30)[1] for k, s in sign.items()), Fraction(0))

    def users_by_feature(self) -> dict[str, dict[str, set[str]]]:
        """window -> feature -> distinct user_ids with a usage event in it."""
        found: dict[str, dict[str, set[str]]] = {w: defaultdict(set) for w in ACTIVITY_WINDOWS}
        for day, user, _, feature in self.book.usage:
            for window in ACTIVITY_WINDOWS:
                if self.in_window(day, int(window[:-1])):
                    found[window][feature].add(user)
        return found

    def activity_series(self) -> None:
        found = self.users_by_feature()

        def users(window: str, features: Iterable[str]) -> set[str]:
            return set().union(*(found[window][f] for f in features))

        active = {w: len(users(w, found[w])) for w in ACTIVITY_WINDOWS}
        for window, count in active.items():
            self.put("saas_active_users", count, window=window)
        mau = active["30d"]
        if mau:
            self.put("saas_stickiness", Fraction(active["1d"], mau))
        monthly = found["30d"]
        ranked = sorted(monthly, key=lambda f: (-len(monthly[f]), f))
        groups = {f: [f] for f in ranked[: self.max_features]}
        if ranked[self.max_features :]:
            groups["other"] = ranked[self.max_features :]
        for label, features in groups.items():
            for window in ACTIVITY_WINDOWS:
                count = len(users(window, features))
                self.put("saas_feature_active_users", count, feature=label, window=window)
            adoption = Fraction(len(users("30d", features)), mau)
            self.put("saas_feature_adoption", adoption, feature=label)
        visitors = {v for d, v in self.book.visits if self.in_window(d, 30)}
        self.put("saas_unique_visitors", len(visitors), window="30d")

    def customer_series(self) -> None:
        book, w = self.book, {"window": "30d"}
        recent = {c for d, _, c, _ in book.usage if self.in_window(d, 14)}
        self.put("saas_at_risk_customers", len(set(self.paying) - recent))
        if self.paying:
            ranked = sorted(self.paying.values(), reverse=True)
            top20 = math.ceil(Fraction(len(ranked), 5))
            self.put("saas_mrr_top_share", sum(ranked[:top20]) / self.mrr, top="20pct")
            self.put("saas_mrr_top_share", sum(ranked[:10]) / self.mrr, top="10")
            self.put("saas_mrr_hhi", sum((m / self.mrr) ** 2 for m in ranked))
        self.put("saas_trials_started", sum(self.in_window(t, 30) for t in book.trial_starts), **w)
        converted = sum(self.in_window(t, 30) for t in book.conversions)
        ended = sum(self.in_window(t, 30) for t in book.trial_ends)
        if converted + ended:
            self.put("saas_trial_conversion_rate", Fraction(converted, converted + ended), **w)
        leads = sum(self.in_window(t, 30) for t in book.leads)
        self.put("saas_leads", leads, **w)
        if leads:
            self.put("saas_lead_conversion_rate", Fraction(self.moved("new", 30)[0], leads), **w)
        if self.paying:
            tickets = sum(self.in_window(t, 30) for t in book.tickets)
            self.put("saas_tickets_per_customer", Fraction(tickets, len(self.paying)), **w)
        scores = [s for d, s in book.nps if self.in_window(d, 90)]
        if scores:
            net = sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)
            self.put("saas_nps", Fraction(100 * net, len(scores)), window="90d")

    # -- v2

    def committed_series(self) -> None:
        """Committed MRR = MRR − MRR of scheduled subscriptions; pending = those with MRR > 0."""
        subs = [s for subs in self.book.subs.values() for s in subs.values()]
        scheduled = [s.mrr() for s in subs if s.scheduled and s.mrr() > 0]
        self.put("saas_committed_mrr", self.mrr - sum(scheduled, Fraction(0)))
        self.put("saas_pending_cancellations", len(scheduled))

    def segment_series(self, dimension: str) -> None:
        """SPEC §3.1/§4 v2 segments of one dimension, capped, the rest merged as "other".

        Reading: a cap of N keeps N named segments plus "other" (the union of the
        merged segments' customers). Segments are ranked by MRR now, descending,
        ties by name; "unknown" is a segment like any other. A channel or country
        literally named "other" joins the merged group when there is one.
        """
        book, values = self.book, self.book.attributes[dimension]
        customers = set(book.subs) | set(values) | {m.customer for m in book.movements}
        members: dict[str, set[str]] = defaultdict(set)
        for customer in customers:
            members[values.get(customer, "unknown")].add(customer)
        moved = {m.customer for m in book.movements if self.in_window(m.day, 30)}
        live = {s: cs for s, cs in members.items() if cs & (set(self.paying) | moved)}
        mrr = {
            s: sum((self.paying.get(c, Fraction(0)) for c in cs), Fraction(0))
            for s, cs in live.items()
        }
        ranked = sorted(live, key=lambda s: (-mrr[s], s))
        groups = {s: {s} for s in ranked[: self.max_segments]}
        if ranked[self.max_segments :]:
            groups["other"] = groups.get("other", set()) | set(ranked[self.max_segments :])
        for label, names in groups.items():
            self.segment_figures(dimension, label, names, set().union(*(live[n] for n in names)))

    def segment_figures(
        self, dimension: str, label: str, names: set[str], customers: set[str]
    ) -> None:
        """The version 1 formulas restricted to `customers` (now in the segment)."""
        labels = {"dimension": dimension, "segment": label}
        counts, sums = self.window_moves(customers)
        mrr = sum((self.paying.get(c, Fraction(0)) for c in customers), Fraction(0))
        paying = len(customers & set(self.paying))
        self.put("saas_segment_mrr", mrr, **labels)
        self.put("saas_segment_paying_customers", paying, **labels)
        self.put("saas_segment_new_customers", counts["new"], window="30d", **labels)
        net = sums["new"] + sums["reactivation"] + sums["expansion"]
        net -= sums["contraction"] + sums["churn"]
        mrr_start = mrr - net
        c_start = paying - (counts["new"] + counts["reactivation"] - counts["churn"])
        if c_start != 0:
            rate = Fraction(counts["churn"], c_start)
            self.put("saas_segment_customer_churn_rate", rate, window="30d", **labels)
        if mrr_start != 0:
            kept = mrr_start - sums["churn"] - sums["contraction"] + sums["expansion"]
            self.put("saas_segment_nrr", kept / mrr_start, window="30d", **labels)
        if dimension == "channel" and label != "unknown" and counts["new"]:
            # For "other": the spend carrying any merged channel's name.
            spend = sum(
                (
                    a
                    for d, category, a, channel in self.book.spend
                    if self.in_window(d, 30)
                    and category in ("sales", "marketing")
                    and channel in names
                ),
                Fraction(0),
            )
            self.put("saas_segment_cac", spend / counts["new"], window="30d", **labels)

    def cohort_series(self) -> None:
        """SPEC §3.1 v2 cohorts: months month(T)−11 … month(T) with ≥ 1 customer."""
        book = self.book
        if book.asof is None:
            return
        now = month_of(book.asof)
        cohort = {m.customer: month_of(m.ts) for m in book.movements if m.kind == "new"}
        history: dict[str, list[tuple[int, Fraction]]] = defaultdict(list)
        for m in book.movements:
            if m.kind in SIGN:  # involuntary_churn is a subset of churn, not a movement kind
                history[m.customer].append((month_of(m.ts), SIGN[m.kind] * m.amount))

        def end_mrr(customer: str, month: int) -> Fraction:
            """Signed sum of the customer's movements with ts in `month` or earlier."""
            return sum((a for mo, a in history[customer] if mo <= month), Fraction(0))

        for first in range(now - 11, now + 1):
            members = sorted(c for c, m in cohort.items() if m == first)
            if not members:
                continue
            label = {"cohort": f"{first // 12:04d}-{first % 12 + 1:02d}"}
            self.put("saas_cohort_customers", len(members), **label)
            base = sum((end_mrr(c, first) for c in members), Fraction(0))
            for age in range(now - first + 1):
                ends = [end_mrr(c, first + age) for c in members]
                logo = Fraction(sum(e > 0 for e in ends), len(members))
                self.put("saas_cohort_logo_retention", logo, age=str(age), **label)
                if base != 0:
                    kept = sum(ends, Fraction(0)) / base
                    self.put("saas_cohort_mrr_retention", kept, age=str(age), **label)

    def support_series(self) -> None:
        """SPEC §3.1 v2 support, CSAT, signups (30-day window)."""
        book, w = self.book, {"window": "30d"}
        opened = sum(self.in_window(d, 30) for d in book.tickets)
        resolved = [s for d, s in book.resolutions if self.in_window(d, 30)]
        replies = [s for d, s in book.first_replies if self.in_window(d, 30)]
        self.put("saas_tickets_opened", opened, **w)
        self.put("saas_tickets_resolved", len(resolved), **w)
        if opened:
            self.put("saas_ticket_resolution_rate", Fraction(len(resolved), opened), **w)
        hour = 3600
        if resolved:
            mean = sum(resolved, Fraction(0)) / len(resolved) / hour
            self.put("saas_ticket_resolution_hours", mean, **w)
        if replies:
            mean = sum(replies, Fraction(0)) / len(replies) / hour
            self.put("saas_ticket_first_response_hours", mean, **w)
        scores = [s for d, s in book.csat if self.in_window(d, 30)]
        if scores:
            self.put("saas_csat", Fraction(100 * sum(s >= 4 for s in scores), len(scores)), **w)
        # Reading: signups = signup events in W (not distinct user_ids); the rate is a
        # plain ratio (not a percentage) over the unique visitors of the 30-day window.
        signups = sum(self.in_window(d, 30) for d in book.signups)
        self.put("saas_signups", signups, **w)
        visitors = len({v for d, v in book.visits if self.in_window(d, 30)})
        if visitors:
            self.put("saas_visitor_signup_rate", Fraction(signups, visitors), **w)

    def counter_series(self) -> None:
        book = self.book
        for topic, n in book.processed.items():
            self.put("saas_events_processed_total", n, topic=topic)
        for reason, n in book.rejected.items():
            self.put("saas_events_rejected_total", n, reason=reason)
        for topic, n in book.duplicates.items():
            self.put("saas_events_duplicate_total", n, topic=topic)
        if book.asof is not None:
            self.put("saas_asof_timestamp_seconds", book.asof)


def compute(
    lines: Iterable[bytes | str],
    *,
    currency: str = "USD",
    max_features: int = 50,
    max_plans: int = 50,
    max_segments: int = 20,
    prefix: str = "saas.",
) -> dict[str, float]:
    """Every Prometheus sample the engine must export after reading `lines`."""
    book = Book(currency)
    for line in lines:
        if not line.strip():
            continue
        ok, value = _decode(line)
        if not ok:
            book.rejected["invalid_json"] += 1
            continue
        suffix = route(value)
        batch = value if isinstance(value, list) else [value]
        if not batch:
            book.rejected["empty_batch"] += 1
        for element in batch:
            if isinstance(element, dict):
                book.handle(element, suffix, prefix + suffix)
            else:
                book.rejected["not_an_object"] += 1
    return Results(book, max_features, max_plans, max_segments).all()


# ---------------------------------------------------------------- comparing

SAMPLE_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\S+)?")
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(value: str) -> str:
    table = {"n": "\n", "\\": "\\", '"': '"'}
    return re.sub(r"\\(.)", lambda m: table.get(m[1], "\\" + m[1]), value)


def parse_exposition(text: str) -> dict[str, float]:
    """The saas_* samples of a Prometheus text page, keyed like `compute()`."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.fullmatch(line)
        if m is None:
            raise ValueError(f"unparsable sample line: {line!r}")
        name, body, value = m.groups()
        if not name.startswith("saas_") or name.endswith("_created"):
            continue
        labels = {k: _unescape(v) for k, v in LABEL_RE.findall(body[1:-1] if body else "")}
        samples[sample_key(name, **labels)] = float(value)
    return samples


def diff(
    expected: dict[str, float],
    actual: dict[str, float],
    *,
    rel: float = 1e-9,
    abs_: float = 1e-6,
) -> list[str]:
    """Human-readable mismatches between two sample dicts (targets ignored)."""
    problems = []
    for key in sorted(set(expected) | set(actual)):
        if key.startswith("saas_kpi_target"):
            continue
        if key not in actual:
            problems.append(f"missing {key} (expected {expected[key]!r})")
        elif key not in expected:
            problems.append(f"extra {key} = {actual[key]!r}")
        elif not math.isclose(expected[key], actual[key], rel_tol=rel, abs_tol=abs_):
            both_nan = math.isnan(expected[key]) and math.isnan(actual[key])
            if not both_nan:
                problems.append(f"different {key}: expected {expected[key]!r}, got {actual[key]!r}")
    return problems
