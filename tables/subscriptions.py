"""Customers and their subscriptions: the state machine behind MRR (SPEC §2.1, §3).

`apply(customer, event, rate_for)` changes one customer and returns a `Change`
describing what moved: customer MRR before and after, its MRR before and after
on each plan the event touched, the change of MRR whose cancellation is
scheduled, and the trial counters. It knows nothing of windows or totals; the KPI families turn a
`Change` into movements and sums. MRR is in MRR units of the reporting
currency (see `tables.money`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from events import types as t
from tables.money import Money, mrr_units

SubscriptionEvent = (
    t.TrialStarted
    | t.TrialEnded
    | t.SubscriptionStarted
    | t.SubscriptionChanged
    | t.SubscriptionPaused
    | t.SubscriptionResumed
    | t.SubscriptionCanceled
    | t.CustomerUpdated
)
RateFor = Callable[[str, float], Fraction | None]
RECENT_IDS_PER_CUSTOMER = 256

TRIAL, ACTIVE, PAUSED, CANCELED, TRIAL_ENDED = "trial", "active", "paused", "canceled", "ended"


class Rejected(Exception):
    """A state rule of SPEC §2.5 refused the event (reason in args[0])."""


@dataclass(slots=True)
class Subscription:
    plan: str
    amount: int = 0
    currency: str = ""
    interval: str = "month"
    quantity: int = 1
    rate: Fraction = Fraction(1)
    status: str = TRIAL
    had_trial: bool = False
    converted: bool = False
    active_mrr: Money = 0
    cancel_scheduled: bool = False  # (v2) cancel_at_period_end: true, not cleared

    def mrr(self) -> Money:
        return self.active_mrr if self.status == ACTIVE else 0


@dataclass(slots=True)
class Customer:
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    had_mrr: bool = False
    mrr: Money = 0
    recent_ids: dict[str, None] = field(default_factory=dict)  # insertion-ordered set

    def plan_mrr(self, plan: str) -> Money:
        """The customer's MRR on `plan` (all its subscriptions on it)."""
        total: Money = 0
        for sub in self.subscriptions.values():
            if sub.plan == plan:
                total += sub.mrr()
        return total


@dataclass(slots=True)
class Change:
    """What one event did to one customer. An event touches at most one
    subscription, so the per-plan and scheduled figures are deltas of it."""

    old_mrr: Money
    new_mrr: Money
    had_mrr: bool
    # plan -> (customer MRR on it before, after), for the plans the event touched
    plans: dict[str, tuple[Money, Money]] = field(default_factory=dict)
    involuntary: bool = False
    trial_started: bool = False
    converted: bool = False
    trial_ended: bool = False
    pinned: dict[str, Fraction] = field(default_factory=dict)
    scheduled: tuple[Money, int] = (0, 0)  # change of scheduled MRR, of pending count


def _rate(currency: str, event: t.Event, rate_for: RateFor) -> Fraction:
    """The rate in effect at the event, looked up before anything is mutated."""
    rate = rate_for(currency, event.ts)
    if rate is None:
        raise Rejected("unknown_currency")
    return rate


def _pin(sub: Subscription, rate: Fraction, reporting: str, change: Change) -> None:
    sub.rate = rate
    if sub.currency != reporting:
        change.pinned[sub.currency] = rate
    _reprice(sub, reporting)


def _reprice(sub: Subscription, reporting: str) -> None:
    sub.active_mrr = mrr_units(sub.amount, sub.currency, sub.rate, reporting, sub.interval)


def _known(customer: Customer, event: t.Event) -> Subscription:
    sub = customer.subscriptions.get(event.subscription_id)  # type: ignore[attr-defined]
    if sub is None:
        raise Rejected("unknown_subscription")
    return sub


def _start(
    customer: Customer, e: t.SubscriptionStarted, rate_for: RateFor, rep: str, ch: Change
) -> None:
    rate = _rate(e.currency, e, rate_for)
    sub = customer.subscriptions.get(e.subscription_id) or Subscription(plan=e.plan)
    sub.plan, sub.amount, sub.currency = e.plan, e.amount, e.currency
    sub.interval, sub.quantity = e.interval, e.quantity
    _pin(sub, rate, rep, ch)
    if sub.had_trial and not sub.converted:
        sub.converted = ch.converted = True
    sub.status = ACTIVE
    sub.cancel_scheduled = False
    customer.subscriptions[e.subscription_id] = sub


def _change(
    sub: Subscription, e: t.SubscriptionChanged, rate_for: RateFor, rep: str, ch: Change
) -> None:
    currency = e.currency or sub.currency
    # no money moved, or a trial that has no currency yet: keep the pinned rate
    repin = (e.amount is not None or e.currency is not None) and bool(currency)
    rate = _rate(currency, e, rate_for) if repin else sub.rate
    sub.plan = e.plan if e.plan is not None else sub.plan
    sub.interval = e.interval if e.interval is not None else sub.interval
    sub.quantity = e.quantity if e.quantity is not None else sub.quantity
    sub.amount = e.amount if e.amount is not None else sub.amount
    sub.currency = currency
    if e.cancel_at_period_end is not None:
        sub.cancel_scheduled = e.cancel_at_period_end
    if repin:
        _pin(sub, rate, rep, ch)
    else:
        _reprice(sub, rep)


def _transition(
    customer: Customer, event: t.Event, rate_for: RateFor, rep: str, ch: Change
) -> None:
    if isinstance(event, t.SubscriptionStarted):
        _start(customer, event, rate_for, rep, ch)
    elif isinstance(event, t.TrialStarted):
        sub = customer.subscriptions.setdefault(
            event.subscription_id, Subscription(plan=event.plan)
        )
        sub.plan, sub.status, sub.had_trial = event.plan, TRIAL, True
        ch.trial_started = True
    elif isinstance(event, t.CustomerUpdated):
        pass  # attributes only: the segments family keeps them
    elif isinstance(event, t.TrialEnded):
        ch.trial_ended = True
        sub_or_none = customer.subscriptions.get(event.subscription_id)
        if sub_or_none is not None and sub_or_none.status == TRIAL:
            sub_or_none.status = TRIAL_ENDED
    else:
        _lifecycle(_known(customer, event), event, rate_for, rep, ch)


def _lifecycle(sub: Subscription, event: t.Event, rate_for: RateFor, rep: str, ch: Change) -> None:
    if isinstance(event, t.SubscriptionChanged):
        _change(sub, event, rate_for, rep, ch)
    elif isinstance(event, t.SubscriptionPaused):
        sub.status = PAUSED if sub.status == ACTIVE else sub.status
    elif isinstance(event, t.SubscriptionResumed):
        sub.status = ACTIVE if sub.status == PAUSED else sub.status
    elif isinstance(event, t.SubscriptionCanceled):
        sub.status = CANCELED
        sub.cancel_scheduled = False
        ch.involuntary = event.reason == "payment_failed"


def _footprint(sub: Subscription | None) -> tuple[str, Money, bool]:
    """(plan, MRR, cancellation scheduled with MRR) of one subscription; none: no MRR."""
    if sub is None:
        return "", 0, False
    mrr = sub.mrr()
    return sub.plan, mrr, sub.cancel_scheduled and mrr > 0


def _account(
    customer: Customer, change: Change, before: tuple[str, Money, bool], sub_id: str
) -> None:
    """Fill `change` from the touched subscription's footprint before and after."""
    after = _footprint(customer.subscriptions.get(sub_id))
    if after == before:
        return
    (old_plan, old, old_sched), (new_plan, new, new_sched) = before, after
    change.new_mrr = customer.mrr = customer.mrr + new - old
    for plan in (old_plan,) if old_plan == new_plan else (old_plan, new_plan):
        if not plan:
            continue  # no subscription before (or after)
        now = customer.plan_mrr(plan)
        was = now - (new if plan == new_plan else 0) + (old if plan == old_plan else 0)
        if was != now:
            change.plans[plan] = (was, now)
    change.scheduled = (
        (new if new_sched else 0) - (old if old_sched else 0),
        new_sched - old_sched,
    )


def apply(customer: Customer, event: t.Event, rate_for: RateFor, reporting: str) -> Change:
    """Apply one subscription-topic event; on `Rejected` the customer is left unchanged
    (every rule that can reject runs before the first mutation)."""
    change = Change(customer.mrr, customer.mrr, customer.had_mrr)
    sub_id: str = getattr(event, "subscription_id", "")
    before = _footprint(customer.subscriptions.get(sub_id))
    _transition(customer, event, rate_for, reporting, change)
    if sub_id:
        _account(customer, change, before, sub_id)
    customer.had_mrr = customer.had_mrr or change.new_mrr > 0
    customer.recent_ids[event.event_id] = None
    if len(customer.recent_ids) > RECENT_IDS_PER_CUSTOMER:
        del customer.recent_ids[next(iter(customer.recent_ids))]
    return change
