"""The subscription side of the simulated business: customers, plans, billing.

`World` advances one simulated day at a time and hands what happened to an
`emit(second_of_day, type, **fields)` callable: arrivals (some as trials),
trial conversions and ends, renewals with occasional failed payments and
dunning, seat changes, upgrades, downgrades, pauses, voluntary and involuntary
cancels, second subscriptions, reactivations and refunds. Every draw comes
from the one `random.Random` it is handed, and every loop runs over lists in a
fixed order, so a seed replays the same business. The state machine only emits
events the engine accepts: a subscription is changed, paused or canceled only
after it started, and only an active one is ever paused.
"""

from __future__ import annotations

import random
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

Emit = Callable[..., int]  # emit(second_of_day, type, **fields) -> the second used
LIVE = ("trial", "active", "paused")
CANCEL_REASONS = ("too_expensive", "missing_features", "switched_competitor", "no_longer_needed")


@dataclass(frozen=True)
class Plan:
    """A price-list entry; `unit_price` is USD cents per seat (or workspace) and month."""

    name: str
    unit_price: int
    min_seats: int
    seat_based: bool
    user_factor: float
    monthly_churn: float
    weight: float


PLANS = {
    p.name: p
    for p in (
        Plan("starter", 2900, 1, False, 0.5, 0.08, 0.35),
        Plan("pro", 1200, 2, True, 1.0, 0.05, 0.40),
        Plan("business", 2900, 5, True, 1.8, 0.03, 0.20),
        Plan("enterprise", 9000, 20, True, 3.5, 0.012, 0.05),
    )
}
PLAN_ORDER = tuple(PLANS)
INTERVAL_MONTHS = {"week": 12 / 52, "month": 1.0, "quarter": 3.0, "year": 12.0}
INTERVAL_PRICE = {"week": 1.15, "month": 1.0, "quarter": 0.95, "year": 0.83}
PERIOD_DAYS = {"week": 7, "month": 30, "quarter": 91, "year": 365}
PRICE_BOOK = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}  # local list price per USD list price
BILLING_MIX = {"USD": 0.7, "EUR": 0.2, "GBP": 0.1}


def list_amount(plan: str, quantity: int, interval: str, currency: str, discount: float) -> int:
    """Recurring charge per interval in minor units: seats x local unit price, after discount."""
    unit = round(PLANS[plan].unit_price * PRICE_BOOK[currency] / 100) * 100
    seats = quantity if PLANS[plan].seat_based else 1
    months = INTERVAL_MONTHS[interval] * INTERVAL_PRICE[interval]
    return round(unit * seats * months * (1 - discount))


def add_periods(start: date, anchor: int, interval: str, periods: int) -> int:
    """Day index of the `periods`-th billing date after day `anchor` (calendar months)."""
    if interval == "week":
        return anchor + 7 * periods
    months = {"month": 1, "quarter": 3, "year": 12}[interval] * periods
    first = start + timedelta(days=anchor)
    year, month0 = divmod(first.month - 1 + months, 12)
    day = min(first.day, monthrange(first.year + year, month0 + 1)[1])
    return (date(first.year + year, month0 + 1, day) - start).days


@dataclass
class Subscription:
    """One subscription's mutable state; `periods` counts billing dates since `anchor`."""

    id: str
    plan: str
    interval: str
    quantity: int
    currency: str
    discount: float
    state: str = "active"
    anchor: int = 0
    periods: int = 0
    until: int = 0  # trial end or pause end
    converts: bool = False
    retry_day: int = -1
    failures: int = 0
    invoice: str = ""

    @property
    def amount(self) -> int:
        return list_amount(self.plan, self.quantity, self.interval, self.currency, self.discount)


@dataclass
class Customer:
    """A customer: its users' activity propensities, engagement and subscriptions."""

    id: str
    currency: str
    engagement: float
    pay_risk: float
    users: list[float]
    subs: list[Subscription] = field(default_factory=list)
    ever_paid: bool = False
    left_day: int = -1

    def live(self) -> list[Subscription]:
        """Subscriptions in trial, active or paused."""
        return [s for s in self.subs if s.state in LIVE]

    def user_id(self, n: int) -> str:
        return f"u-{self.id}-{n + 1}"


class World:
    """Customers and their subscriptions, advanced one day at a time."""

    def __init__(self, rng: random.Random, start: date, users_per_customer: int) -> None:
        self.rng, self.start, self.upc = rng, start, users_per_customer
        self.customers: list[Customer] = []
        self.refunds: list[tuple[int, Customer, int, str, str]] = []
        self.receipts: list[tuple[int, str]] = []  # today's cash in (refunds < 0), per currency
        self._ids = {"c": 0, "s": 0, "in": 0}
        self.day, self.emit = 0, _unset

    def _next_id(self, prefix: str, width: int) -> str:
        self._ids[prefix] += 1
        return f"{prefix}-{self._ids[prefix]:0{width}d}"

    def time_of_day(self) -> int:
        """A time of day, clustered around business hours UTC."""
        return int(min(max(self.rng.gauss(14.5, 3.5), 0.05), 23.5) * 3600)

    # ---- the day --------------------------------------------------------------

    def begin_day(self, day: int, emit: Emit) -> None:
        """Start `day`, writing its events to `emit`."""
        self.day, self.emit, self.receipts = day, emit, []

    def step(self, arrivals: int) -> None:
        """Every customer's subscriptions and growth, then arrivals, then due refunds."""
        for cust in self.customers:
            cust.engagement = min(max(cust.engagement + self.rng.gauss(0, 0.015), 0.05), 0.98)
            for sub in list(cust.subs):
                self._step_sub(cust, sub)
            self._grow(cust)
        for _ in range(arrivals):  # after the loop: nothing else happens to a sub on day one
            self._arrive()
        self._pay_refunds()

    # ---- arrivals and starts --------------------------------------------------

    def _arrive(self) -> None:
        rng = self.rng
        plan = rng.choices(PLAN_ORDER, [p.weight for p in PLANS.values()])[0]
        users = max(1, round(self.upc * PLANS[plan].user_factor * rng.lognormvariate(0, 0.35)))
        cust = Customer(
            id=self._next_id("c", 5),
            currency=rng.choices(list(BILLING_MIX), list(BILLING_MIX.values()))[0],
            engagement=rng.betavariate(4, 2.5),
            pay_risk=0.15 if rng.random() < 0.12 else 0.02,
            users=[rng.uniform(0.5, 1.3) for _ in range(users)],
        )
        self.customers.append(cust)
        sub = self._new_sub(cust, plan, len(cust.users))
        if plan != "enterprise" and rng.random() < 0.45:
            self._start_trial(cust, sub)
        else:
            self._start(cust, sub, self.time_of_day())

    def _new_sub(self, cust: Customer, plan: str, users: int) -> Subscription:
        rng = self.rng
        if plan == "enterprise":
            interval = rng.choices(("year", "quarter"), (0.8, 0.2))[0]
        else:
            interval = rng.choices(("month", "year", "quarter", "week"), (78, 12, 6, 4))[0]
        discount = rng.choice((0.1, 0.15, 0.2)) if rng.random() < 0.2 else 0.0
        quantity = max(PLANS[plan].min_seats, users) if PLANS[plan].seat_based else 1
        sub = Subscription(self._next_id("s", 5), plan, interval, quantity, cust.currency, discount)
        cust.subs.append(sub)
        return sub

    def _start_trial(self, cust: Customer, sub: Subscription) -> None:
        sub.state, sub.until = "trial", self.day + 14
        sub.converts = self.rng.random() < 0.2 + 0.5 * cust.engagement
        self.emit(self.time_of_day(), "trial.started", **_ref(cust, sub), plan=sub.plan)

    def _start(self, cust: Customer, sub: Subscription, sec: int) -> None:
        """`subscription.started` with its first payment right after it."""
        sub.state, sub.anchor, sub.periods, sub.failures = "active", self.day, 0, 0
        self.emit(
            sec, "subscription.started", **_ref(cust, sub), plan=sub.plan, amount=sub.amount,
            currency=sub.currency, interval=sub.interval, quantity=sub.quantity,
        )  # fmt: skip
        cust.ever_paid = True
        self._bill(cust, sub, sec + self.rng.randint(1, 90))

    # ---- billing -------------------------------------------------------------

    def _bill(self, cust: Customer, sub: Subscription, sec: int) -> None:
        """Charge the period starting today; a failure opens dunning with retries."""
        sub.periods += 1
        sub.invoice = self._next_id("in", 6)
        if self.rng.random() < cust.pay_risk:
            sub.failures, sub.retry_day = 1, self.day + 3
            self.emit(sec, "payment.failed", **_pay(cust, sub.amount, sub.currency, sub.invoice))
        else:
            self._collect(cust, sub.amount, sub.currency, sub.invoice, sec)

    def _collect(self, cust, amount: int, currency: str, invoice: str, sec: int) -> None:
        """`payment.succeeded`; about 1.5 % are refunded, fully or in part, days later."""
        self.emit(sec, "payment.succeeded", **_pay(cust, amount, currency, invoice))
        self.receipts.append((amount, currency))
        if self.rng.random() < 0.015:
            part = amount if self.rng.random() < 0.6 else amount // 2
            self.refunds.append((self.day + self.rng.randint(1, 14), cust, part, currency, invoice))

    def _retry(self, cust: Customer, sub: Subscription) -> None:
        """Dunning: retry the open invoice; the third failure cancels as `payment_failed`."""
        sec = self.time_of_day()
        if self.rng.random() < 0.45:
            sub.failures, sub.retry_day = 0, -1
            self._collect(cust, sub.amount, sub.currency, sub.invoice, sec)
            return
        sub.failures += 1
        self.emit(sec, "payment.failed", **_pay(cust, sub.amount, sub.currency, sub.invoice))
        if sub.failures < 3:
            sub.retry_day = self.day + 4
        else:
            self._cancel(cust, sub, "payment_failed", sec + self.rng.randint(30, 600))

    def _pay_refunds(self) -> None:
        due = [r for r in self.refunds if r[0] <= self.day]
        self.refunds = [r for r in self.refunds if r[0] > self.day]
        for _, cust, amount, currency, invoice in due:
            self.emit(
                self.time_of_day(), "payment.refunded", **_pay(cust, amount, currency, invoice)
            )
            self.receipts.append((-amount, currency))

    # ---- one subscription's self.day ------------------------------------------------

    def _step_sub(self, cust: Customer, sub: Subscription) -> None:
        if sub.state == "trial" and self.day >= sub.until:
            self._end_trial(cust, sub)
        elif sub.state == "paused" and self.day >= sub.until:
            self._end_pause(cust, sub)
        elif sub.state != "active":
            return
        elif sub.retry_day == self.day:
            self._retry(cust, sub)
        elif self.day >= add_periods(self.start, sub.anchor, sub.interval, sub.periods):
            if sub.failures:  # the open invoice is still in dunning: skip this period's charge
                sub.periods += 1
            else:
                self._bill(cust, sub, self.time_of_day())
        elif not sub.failures:
            self._maybe_change(cust, sub)

    def _end_trial(self, cust: Customer, sub: Subscription) -> None:
        if not sub.converts:
            sub.state = "trial_ended"
            self.emit(self.time_of_day(), "trial.ended", **_ref(cust, sub))
            self._note_left(cust)
            return
        if self.rng.random() < 0.15:
            self._set_plan(sub, PLAN_ORDER[min(PLAN_ORDER.index(sub.plan) + 1, 2)])
        self._start(cust, sub, self.time_of_day())

    def _end_pause(self, cust: Customer, sub: Subscription) -> None:
        sec = self.time_of_day()
        if self.rng.random() < 0.2:
            self._cancel(cust, sub, "no_longer_needed", sec)
            return
        sub.state, sub.anchor, sub.periods = "active", self.day, 0
        self.emit(sec, "subscription.resumed", **_ref(cust, sub))
        self._bill(cust, sub, sec + self.rng.randint(1, 90))

    def _maybe_change(self, cust: Customer, sub: Subscription) -> None:
        """At most one voluntary change a day, drawn from per-day probabilities."""
        plan, rank = PLANS[sub.plan], PLAN_ORDER.index(sub.plan)
        risk = 0.3 + 1.8 * (1 - cust.engagement)
        options = (
            (plan.monthly_churn / 30 * risk, self._cancel_voluntary),
            (0.003 if sub.interval in ("month", "week") else 0.0, self._pause),
            (0.012 if plan.seat_based else 0.0, self._change_seats),
            (0.004 if rank < 3 else 0.0, self._upgrade),
            (0.002 if rank > 0 else 0.0, self._downgrade),
            (0.0008 if sub.interval == "month" else 0.0, self._go_annual),
        )
        roll = self.rng.random()
        for chance, action in options:
            if roll < chance:
                action(cust, sub)
                return
            roll -= chance

    def _cancel_voluntary(self, cust: Customer, sub: Subscription) -> None:
        self._cancel(cust, sub, self.rng.choice(CANCEL_REASONS), self.time_of_day())

    def _cancel(self, cust: Customer, sub: Subscription, reason: str, sec: int) -> None:
        sub.state, sub.retry_day = "canceled", -1
        self.emit(sec, "subscription.canceled", **_ref(cust, sub), reason=reason)
        self._note_left(cust)

    def _pause(self, cust: Customer, sub: Subscription) -> None:
        sub.state, sub.until = "paused", self.day + self.rng.randint(7, 45)
        self.emit(self.time_of_day(), "subscription.paused", **_ref(cust, sub))

    def _change_seats(self, cust: Customer, sub: Subscription) -> None:
        """Seats go up twice as often as down; new seats bring new users."""
        step = self.rng.randint(1, 3) * (1 if self.rng.random() < 0.68 else -1)
        quantity = max(PLANS[sub.plan].min_seats, sub.quantity + step)
        if quantity == sub.quantity:
            return
        old = sub.amount
        sub.quantity = quantity
        cust.users += [self.rng.uniform(0.5, 1.3) for _ in range(quantity - len(cust.users))]
        self._changed(cust, sub, old, quantity=quantity)

    def _upgrade(self, cust: Customer, sub: Subscription) -> None:
        self._move_plan(cust, sub, +1)

    def _downgrade(self, cust: Customer, sub: Subscription) -> None:
        self._move_plan(cust, sub, -1)

    def _move_plan(self, cust: Customer, sub: Subscription, step: int) -> None:
        old = sub.amount
        self._set_plan(sub, PLAN_ORDER[PLAN_ORDER.index(sub.plan) + step])
        self._changed(cust, sub, old, plan=sub.plan, quantity=sub.quantity)

    def _go_annual(self, cust: Customer, sub: Subscription) -> None:
        """Switch to yearly billing from the next billing date (no charge today)."""
        old = sub.amount
        due = add_periods(self.start, sub.anchor, sub.interval, sub.periods)
        sub.interval, sub.anchor, sub.periods = "year", due, 0
        self._changed(cust, sub, old, interval="year")

    def _set_plan(self, sub: Subscription, plan: str) -> None:
        sub.plan = plan
        sub.quantity = max(PLANS[plan].min_seats, sub.quantity) if PLANS[plan].seat_based else 1

    def _changed(self, cust: Customer, sub: Subscription, old: int, **new: Any) -> None:
        """`subscription.changed` with the new amount; a rise is charged pro rata right away."""
        sec = self.emit(self.time_of_day(), "subscription.changed", **_ref(cust, sub), **new,
                      amount=sub.amount)  # fmt: skip
        due = add_periods(self.start, sub.anchor, sub.interval, sub.periods)
        rise = (sub.amount - old) * min(1.0, (due - self.day) / PERIOD_DAYS[sub.interval])
        if rise >= 100 and "interval" not in new:
            self._collect(cust, round(rise), sub.currency, self._next_id("in", 6), sec + 5)

    # ---- growth and win-back -----------------------------------------------------

    def _note_left(self, cust: Customer) -> None:
        if not cust.live():
            cust.left_day = self.day

    def _grow(self, cust: Customer) -> None:
        """A second team subscribes; churned customers come back; lapsed trials buy later."""
        live, rng = cust.live(), self.rng
        if len(live) == 1 and live[0].state == "active" and len(cust.subs) == 1:
            if rng.random() < 0.0025:
                plan = "pro" if live[0].plan == "starter" else rng.choice(PLAN_ORDER[:3])
                extra = max(1, round(self.upc * 0.6))
                cust.users += [rng.uniform(0.5, 1.3) for _ in range(extra)]
                self._start(cust, self._new_sub(cust, plan, extra), self.time_of_day())
            return
        comeback = 0.008 if cust.ever_paid else 0.002
        if not live and 0 < self.day - cust.left_day <= 120 and rng.random() < comeback:
            sub = self._new_sub(cust, cust.subs[-1].plan, len(cust.users))
            self._start(cust, sub, self.time_of_day())


def _ref(cust: Customer, sub: Subscription) -> dict[str, str]:
    return {"customer_id": cust.id, "subscription_id": sub.id}


def _pay(cust: Customer, amount: int, currency: str, invoice: str) -> dict[str, Any]:
    return {"customer_id": cust.id, "amount": amount, "currency": currency, "invoice_id": invoice}


def _unset(second: int, type_: str, **fields: Any) -> int:
    raise RuntimeError("World.begin_day() must come before World.step()")
