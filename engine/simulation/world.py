"""The subscription side of the simulated business: customers, subscriptions, billing.

`World` advances one simulated day at a time and hands what happened to an
`emit(second_of_day, type, **fields)` callable: arrivals (with their country and
acquisition channel, many as trials), trial conversions and ends, renewals with
occasional failed payments and dunning, seat changes, upgrades, downgrades,
pauses, scheduled cancellations (`cancel_at_period_end`, some withdrawn),
immediate and involuntary cancels, second subscriptions, reactivations and
refunds. Every draw comes from the one `random.Random` it is handed and every
loop runs over lists in a fixed order, so a seed replays the same business. It
only emits what the engine accepts: a subscription is changed, paused or
canceled only after it started, and only an active one is paused or scheduled.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from typing import Any

from engine.simulation.accounts import Customer, Subscription, user_propensity
from engine.simulation.catalog import (
    CHANNEL_ORDER,
    CHANNELS,
    COUNTRIES,
    NO_COUNTRY_SHARE,
    PERIOD_DAYS,
    PLAN_ORDER,
    PLANS,
    Plan,
    add_periods,
)
from engine.simulation.timeline import time_of_day

Emit = Callable[..., int]  # emit(second_of_day, type, **fields) -> the second used
CANCEL_REASONS = ("too_expensive", "missing_features", "switched_competitor", "no_longer_needed")
TRIAL_DAYS = 14


class World:
    """Customers and their subscriptions, advanced one day at a time."""

    def __init__(self, rng: random.Random, start: date, users_per_customer: int) -> None:
        self.rng, self.start, self.upc = rng, start, users_per_customer
        self.customers: list[Customer] = []
        self.arrived: list[tuple[Customer, int]] = []  # today's arrivals and their second
        self.refunds: list[tuple[int, Customer, int, str, str]] = []
        self.receipts: list[tuple[int, str]] = []  # today's cash in (refunds < 0), per currency
        self._ids = {"c": 0, "s": 0, "in": 0}
        self.day, self.emit = 0, _unset

    def _next_id(self, prefix: str, width: int) -> str:
        self._ids[prefix] += 1
        return f"{prefix}-{self._ids[prefix]:0{width}d}"

    def time_of_day(self) -> int:
        return time_of_day(self.rng)

    # ---- the day --------------------------------------------------------------

    def begin_day(self, day: int, emit: Emit) -> None:
        """Start `day`, writing its events to `emit`."""
        self.day, self.emit, self.receipts, self.arrived = day, emit, [], []

    def step(self, arrivals: int) -> None:
        """Every customer's subscriptions and growth, then arrivals, then due refunds."""
        for cust in self.customers:
            cust.engagement = min(max(cust.engagement + self.rng.gauss(0, 0.012), 0.05), 0.98)
            for sub in list(cust.subs):
                self._step_sub(cust, sub)
            self._grow(cust)
            self._relocate(cust)
        for _ in range(arrivals):  # after the loop: nothing else happens to a sub on day one
            self._arrive()
        self._pay_refunds()

    def usd_mrr(self) -> float:
        """Today's MRR at list prices in USD cents (what the company budgets against)."""
        return sum(sub.usd_mrr for cust in self.customers for sub in cust.subs)

    # ---- arrivals and starts --------------------------------------------------

    def _arrive(self) -> None:
        """A new account (its first user signed up just before): a trial or a subscription."""
        cust, plan = self._new_customer()
        sec = self.time_of_day()
        self.arrived.append((cust, sec))
        self._introduce(cust, sec)
        sub = self._new_sub(cust, plan.name, len(cust.users))
        if self.rng.random() < plan.trial_share:
            self._start_trial(cust, sub, sec)
        else:
            self._start(cust, sub, sec)

    def establish(self, count: int) -> None:
        """Customers won before the history began: paying at 00:00:00 of the first day.

        Each is announced (`customer.updated`, `subscription.started`) but not
        billed: its current period was paid before, and its billing date falls
        somewhere in the coming period.
        """
        for _ in range(count):
            cust, plan = self._survivor()
            self._introduce(cust, 0)
            sub = self._new_sub(cust, plan.name, len(cust.users))
            sub.state, sub.periods, cust.ever_paid = "active", 1, True
            sub.anchor = self.day - self.rng.randrange(PERIOD_DAYS[sub.interval])
            self._announce(cust, sub, 0)

    def _survivor(self) -> tuple[Customer, Plan]:
        """A customer still here after 0-12 months: the churn-prone are fewer among them."""
        while True:
            cust, plan = self._draw_customer()
            monthly = plan.monthly_churn * cust.churn_factor + 0.25 * cust.pay_risk + 0.009
            if self.rng.random() < (1 - monthly) ** self.rng.uniform(0, 12):
                return self._enroll(cust), plan

    def _new_customer(self) -> tuple[Customer, Plan]:
        cust, plan = self._draw_customer()
        return self._enroll(cust), plan

    def _enroll(self, cust: Customer) -> Customer:
        cust.id = self._next_id("c", 5)
        self.customers.append(cust)
        return cust

    def _draw_customer(self) -> tuple[Customer, Plan]:
        """Draw a customer: channel, plan (larger via sales channels), country, users."""
        rng = self.rng
        channel = CHANNELS[rng.choices(CHANNEL_ORDER, [c.weight for c in CHANNELS.values()])[0]]
        tilt = [p.weight * (channel.plan_tilt if p.min_seats >= 5 else 1.0) for p in PLANS.values()]
        plan = PLANS[rng.choices(PLAN_ORDER, tilt)[0]]
        country = None
        if rng.random() >= NO_COUNTRY_SHARE:
            country = rng.choices(COUNTRIES, [c.weight for c in COUNTRIES])[0]
        users = max(1, round(self.upc * plan.user_factor * rng.lognormvariate(0, 0.35)))
        cust = Customer(
            id="",  # given when enrolled
            country=country,
            channel=channel.name,
            currency=country.currency if country else "USD",
            engagement=rng.betavariate(4, 2.5),
            pay_risk=0.15 if rng.random() < 0.15 else 0.02,
            users=[user_propensity(rng) for _ in range(users)],
        )
        return cust, plan

    def _introduce(self, cust: Customer, sec: int) -> None:
        """`customer.updated` with the new customer's country (if known) and channel."""
        attrs = {"country": cust.country.code} if cust.country else {}
        self.emit(sec, "customer.updated", customer_id=cust.id, channel=cust.channel, **attrs)

    def _new_sub(self, cust: Customer, plan: str, users: int) -> Subscription:
        rng = self.rng
        if plan == "enterprise":
            interval = rng.choices(("year", "quarter", "month"), (0.35, 0.25, 0.4))[0]
        else:
            interval = rng.choices(("month", "year", "quarter", "week"), (84, 8, 5, 3))[0]
        discount = rng.choice((0.1, 0.15, 0.2)) if rng.random() < 0.2 else 0.0
        quantity = max(PLANS[plan].min_seats, users) if PLANS[plan].seat_based else 1
        sub = Subscription(self._next_id("s", 5), plan, interval, quantity, cust.currency, discount)
        cust.subs.append(sub)
        return sub

    def _start_trial(self, cust: Customer, sub: Subscription, sec: int) -> None:
        sub.state, sub.until = "trial", self.day + TRIAL_DAYS
        referral = 0.06 if cust.channel == "referral" else 0.0
        sub.converts = self.rng.random() < 0.015 + referral + 0.3 * cust.engagement
        self.emit(sec, "trial.started", **_ref(cust, sub), plan=sub.plan)

    def _start(self, cust: Customer, sub: Subscription, sec: int) -> None:
        """`subscription.started` with its first payment right after it."""
        sub.state, sub.anchor, sub.periods, sub.failures = "active", self.day, 0, 0
        self._announce(cust, sub, sec)
        cust.ever_paid = True
        self._bill(cust, sub, sec + self.rng.randint(1, 90))

    def _announce(self, cust: Customer, sub: Subscription, sec: int) -> None:
        self.emit(
            sec, "subscription.started", **_ref(cust, sub), plan=sub.plan, amount=sub.amount,
            currency=sub.currency, interval=sub.interval, quantity=sub.quantity,
        )  # fmt: skip

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

    def _collect(self, cust: Customer, amount: int, currency: str, invoice: str, sec: int) -> None:
        """`payment.succeeded`; about 1.5 % are refunded, fully or in part, days later."""
        self.emit(sec, "payment.succeeded", **_pay(cust, amount, currency, invoice))
        self.receipts.append((amount, currency))
        if self.rng.random() < 0.015:
            part = amount if self.rng.random() < 0.6 else amount // 2
            self.refunds.append((self.day + self.rng.randint(1, 14), cust, part, currency, invoice))

    def _retry(self, cust: Customer, sub: Subscription) -> None:
        """Dunning: retry the open invoice; the third failure cancels as `payment_failed`."""
        sec = self.time_of_day()
        if self.rng.random() < 0.5:
            sub.failures, sub.retry_day = 0, -1
            self._collect(cust, sub.amount, sub.currency, sub.invoice, sec)
            return
        sub.failures += 1
        self.emit(sec, "payment.failed", **_pay(cust, sub.amount, sub.currency, sub.invoice))
        if sub.failures < 3:
            sub.retry_day = self.day + 4
        else:
            self.cancel(cust, sub, "payment_failed", sec + self.rng.randint(30, 600))

    def _pay_refunds(self) -> None:
        due = [r for r in self.refunds if r[0] <= self.day]
        self.refunds = [r for r in self.refunds if r[0] > self.day]
        for _, cust, amount, currency, invoice in due:
            self.emit(
                self.time_of_day(), "payment.refunded", **_pay(cust, amount, currency, invoice)
            )
            self.receipts.append((-amount, currency))

    # ---- one subscription's day ------------------------------------------------

    def _step_sub(self, cust: Customer, sub: Subscription) -> None:
        if sub.state == "trial" and self.day >= sub.until:
            self._end_trial(cust, sub)
        elif sub.state == "paused" and self.day >= sub.until:
            self._end_pause(cust, sub)
        elif sub.state != "active":
            return
        elif sub.retry_day == self.day:
            self._retry(cust, sub)
        elif sub.withdraw_day == self.day:
            self._withdraw(cust, sub)
        elif sub.cancel_day >= 0 and self.day >= sub.cancel_day:
            self.cancel(cust, sub, sub.reason, self.time_of_day())
        elif self.day >= self.due(sub):
            if sub.failures:  # the open invoice is still in dunning: skip this period's charge
                sub.periods += 1
            else:
                self._bill(cust, sub, self.time_of_day())
        elif not sub.failures and sub.cancel_day < 0:
            self._maybe_change(cust, sub)

    def due(self, sub: Subscription) -> int:
        """Day index of the subscription's next billing date."""
        return add_periods(self.start, sub.anchor, sub.interval, sub.periods)

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
            self.cancel(cust, sub, "no_longer_needed", sec)
            return
        sub.state, sub.anchor, sub.periods = "active", self.day, 0
        self.emit(sec, "subscription.resumed", **_ref(cust, sub))
        self._bill(cust, sub, sec + self.rng.randint(1, 90))

    def _maybe_change(self, cust: Customer, sub: Subscription) -> None:
        """At most one voluntary change a day, drawn from per-day probabilities."""
        plan, rank = PLANS[sub.plan], PLAN_ORDER.index(sub.plan)
        options = (
            (plan.monthly_churn / 30 * cust.churn_factor, self._decide_to_leave),
            (0.0003 if sub.interval in ("month", "week") else 0.0, self._pause),
            (0.0055 if plan.seat_based else 0.0, self._change_seats),
            (0.0022 * cust.engagement if rank < 3 else 0.0, self._upgrade),
            (0.0003 if rank > 0 else 0.0, self._downgrade),
            (0.0008 if sub.interval == "month" else 0.0, self._go_annual),
        )
        roll = self.rng.random()
        for chance, action in options:
            if roll < chance:
                action(cust, sub)
                return
            roll -= chance

    # ---- leaving -----------------------------------------------------------------

    def _decide_to_leave(self, cust: Customer, sub: Subscription) -> None:
        """Cancel now, or (always for quarterly and yearly terms) at the end of the period.

        A scheduled cancellation is a `subscription.changed` with
        `cancel_at_period_end: true`; a quarter of them are withdrawn before the
        period ends (`false`), the rest cancel on the billing date.
        """
        reason = self.rng.choice(CANCEL_REASONS)
        if sub.interval in ("month", "week") and self.rng.random() < 0.35:
            self.cancel(cust, sub, reason, self.time_of_day())
            return
        self.schedule_cancel(cust, sub, reason, self.time_of_day())
        if self.rng.random() < 0.25 and sub.cancel_day - self.day >= 2:
            sub.withdraw_day = self.rng.randint(self.day + 1, sub.cancel_day - 1)

    def schedule_cancel(self, cust: Customer, sub: Subscription, reason: str, sec: int) -> None:
        """`cancel_at_period_end: true`: the subscription ends on its next billing date."""
        sub.cancel_day, sub.reason = self.due(sub), reason
        self.emit(sec, "subscription.changed", **_ref(cust, sub), cancel_at_period_end=True)

    def _withdraw(self, cust: Customer, sub: Subscription) -> None:
        sub.cancel_day = sub.withdraw_day = -1
        self.emit(self.time_of_day(), "subscription.changed", **_ref(cust, sub),
                  cancel_at_period_end=False)  # fmt: skip

    def cancel(self, cust: Customer, sub: Subscription, reason: str, sec: int) -> None:
        """`subscription.canceled` now (clears any schedule)."""
        sub.state, sub.retry_day, sub.cancel_day, sub.withdraw_day = "canceled", -1, -1, -1
        self.emit(sec, "subscription.canceled", **_ref(cust, sub), reason=reason)
        self._note_left(cust)

    def _pause(self, cust: Customer, sub: Subscription) -> None:
        sub.state, sub.until = "paused", self.day + self.rng.randint(7, 45)
        self.emit(self.time_of_day(), "subscription.paused", **_ref(cust, sub))

    # ---- changes -----------------------------------------------------------------

    def _change_seats(self, cust: Customer, sub: Subscription) -> None:
        """Seats go up twice as often as down; new seats bring new users."""
        step = self.rng.randint(1, 2) * (1 if self.rng.random() < 0.7 else -1)
        self.set_seats(cust, sub, max(PLANS[sub.plan].min_seats, sub.quantity + step))

    def set_seats(self, cust: Customer, sub: Subscription, quantity: int) -> None:
        if quantity == sub.quantity:
            return
        old = sub.amount
        sub.quantity = quantity
        cust.users += [user_propensity(self.rng) for _ in range(quantity - len(cust.users))]
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
        old, due = sub.amount, self.due(sub)
        sub.interval, sub.anchor, sub.periods = "year", due, 0
        self._changed(cust, sub, old, interval="year")

    def _set_plan(self, sub: Subscription, plan: str) -> None:
        sub.plan = plan
        sub.quantity = max(PLANS[plan].min_seats, sub.quantity) if PLANS[plan].seat_based else 1

    def _changed(self, cust: Customer, sub: Subscription, old: int, **new: Any) -> None:
        """`subscription.changed` with the new amount; a rise is charged pro rata right away."""
        sec = self.emit(self.time_of_day(), "subscription.changed", **_ref(cust, sub), **new,
                        amount=sub.amount)  # fmt: skip
        rise = (sub.amount - old) * min(1.0, (self.due(sub) - self.day) / PERIOD_DAYS[sub.interval])
        if rise >= 100 and "interval" not in new:
            self._collect(cust, round(rise), sub.currency, self._next_id("in", 6), sec + 5)

    # ---- growth, win-back, attributes ------------------------------------------------

    def _note_left(self, cust: Customer) -> None:
        if not cust.live():
            cust.left_day = self.day

    def _grow(self, cust: Customer) -> None:
        """A second team subscribes; churned customers come back; lapsed trials buy later."""
        live, rng = cust.live(), self.rng
        if len(live) == 1 and live[0].state == "active" and len(cust.subs) == 1:
            if rng.random() < 0.0004 and live[0].cancel_day < 0:
                plan = "pro" if live[0].plan == "starter" else rng.choice(PLAN_ORDER[:3])
                extra = max(1, round(self.upc * 0.6))
                cust.users += [user_propensity(rng) for _ in range(extra)]
                self._start(cust, self._new_sub(cust, plan, extra), self.time_of_day())
            return
        comeback = 0.0008 if cust.ever_paid else 0.0012
        if not live and 0 < self.day - cust.left_day <= 120 and rng.random() < comeback:
            sub = self._new_sub(cust, cust.subs[-1].plan, len(cust.users))
            self._start(cust, sub, self.time_of_day())

    def _relocate(self, cust: Customer) -> None:
        """Rarely a customer's billing country changes (or becomes known): `customer.updated`."""
        if cust.live() and self.rng.random() < 0.00015:
            cust.country = self.rng.choices(COUNTRIES, [c.weight for c in COUNTRIES])[0]
            self.emit(self.time_of_day(), "customer.updated", customer_id=cust.id,
                      country=cust.country.code)  # fmt: skip


def _ref(cust: Customer, sub: Subscription) -> dict[str, str]:
    return {"customer_id": cust.id, "subscription_id": sub.id}


def _pay(cust: Customer, amount: int, currency: str, invoice: str) -> dict[str, Any]:
    return {"customer_id": cust.id, "amount": amount, "currency": currency, "invoice_id": invoice}


def _unset(second: int, type_: str, **fields: Any) -> int:
    raise RuntimeError("World.begin_day() must come before World.step()")
