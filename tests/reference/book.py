"""The Book: every applied event, kept raw enough to recompute each KPI at the end.

Duplicates and the state rules (unknown_currency, unknown_subscription,
unknown_ticket) are judged here, after the static rules of `rules.validate`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from tests.reference.rules import (
    MONTHLY,
    NEEDS_SUBSCRIPTION,
    SCHEMA,
    TOPIC_OF_TYPE,
    day_of,
    exponent,
    parse_ts,
    validate,
)


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
        if kind == "ticket.opened":
            self.tickets.append(day)
            opened = (e["customer_id"], e.get("ticket_id"))
            if opened[1] is not None and opened not in self.open_tickets:
                self.open_tickets[(opened[0], opened[1])] = Ticket(opened=ts)
            return
        key: tuple[str, str] = (e["customer_id"], e["ticket_id"])
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
