"""The global fold: every subscription, payment and business event -> KPI state.

Each worker keeps one `Store` and applies to it every accepted event of its own
partitions *and* every fact written by other workers (docs/architecture.md).
`apply` is idempotent by `event_id`, so the two paths, replays after a crash
and duplicated input all converge on the same state. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from events import types as t
from tables import subscriptions as subs
from tables.concentration import Concentration
from tables.dedupe import IdsByDay, RecentIds
from tables.fx import FxRates
from tables.ledger import Ledger
from tables.money import Money, convert, exponent
from tables.recency import Recency

DAY = 86400
PAYMENT_KEYS = {
    "payment.succeeded": "rev.succeeded",
    "payment.refunded": "rev.refunded",
    "payment.failed": "rev.failed",
}


@dataclass(slots=True)
class Outcome:
    """What `Store.apply` did: "applied", "duplicate" or "rejected" (with reason)."""

    status: str
    reason: str = ""
    pinned: dict[str, Fraction] = field(default_factory=dict)


class Store:
    """Customer state, totals, day buckets and counters of one deployment."""

    def __init__(self, reporting: str = "USD") -> None:
        self.reporting = reporting
        self.minor = 10 ** exponent(reporting)
        self.fx = FxRates(reporting)
        self.customers: dict[str, subs.Customer] = {}
        self.ledger = Ledger()
        self.mrr: Money = 0
        self.paying = 0
        self.plan_mrr: dict[str, Money] = {}
        self.plan_customers: dict[str, int] = {}
        self.movement_totals: dict[str, Money] = {}
        self.concentration = Concentration()
        self.processed: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.duplicates: dict[str, int] = {}
        self.asof: float | None = None
        self.cash: tuple[float, int, Money] | None = None
        self.recency = Recency()
        self._business_ids = IdsByDay()
        self._input_keys = RecentIds(500_000)
        self._sequence = 0

    # -- applying ---------------------------------------------------------
    def apply(
        self,
        event: t.Event,
        topic: str,
        pinned: dict[str, Fraction] | None = None,
        source: str = "",
    ) -> Outcome:
        """Apply one validated event that arrived on topic suffix `topic` from input
        partition `source` ("topic:partition"; the horizon of the id memory)."""
        if isinstance(event, subs.SUBSCRIPTION_TYPES):
            outcome = self._apply_subscription(event, pinned)
        else:
            outcome = self._apply_business(event, pinned, source)
        if outcome.status == "applied":
            self.processed[topic] = self.processed.get(topic, 0) + 1
            self.asof = event.ts if self.asof is None else max(self.asof, event.ts)
        return outcome

    def count_rejection(self, key: str, reason: str) -> bool:
        """Count a rejected input once per `key` (topic/partition/offset/index)."""
        return self._count_once(key, self.rejected, reason)

    def count_duplicate(self, key: str, topic: str) -> bool:
        """Count a duplicate input once per `key` (topic/partition/offset/index)."""
        return self._count_once(key, self.duplicates, topic)

    def currency_of(self, customer_id: str, subscription_id: str) -> str | None:
        """The currency a subscription is billed in, None if it is unknown here."""
        customer = self.customers.get(customer_id)
        sub = customer.subscriptions.get(subscription_id) if customer else None
        return sub.currency if sub else None

    def knows_input(self, key: str) -> bool:
        """Whether the input at `key` was already applied here (empty key: unknown)."""
        return bool(key) and key in self._input_keys

    def remember_input(self, key: str) -> None:
        """The input at `key` was applied: a re-delivery of it is a replay, not a duplicate."""
        self._input_keys.add(key)

    def _count_once(self, key: str, counter: dict[str, int], label: str) -> bool:
        if key in self._input_keys:
            return False
        self._input_keys.add(key)
        counter[label] = counter.get(label, 0) + 1
        return True

    def note_usage(self, customer_id: str, day: int) -> None:
        """A usage event of `customer_id` on `day` (max kept; idempotent)."""
        self.recency.use(customer_id, day)

    def _rate_for(self, pinned: dict[str, Fraction] | None) -> subs.RateFor:
        if pinned is None:
            return self.fx.rate_at
        return lambda currency, ts: pinned.get(currency) or self.fx.rate_at(currency, ts)

    def _apply_subscription(self, event: t.Event, pinned: dict[str, Fraction] | None) -> Outcome:
        customer_id: str = event.customer_id  # type: ignore[attr-defined]
        customer = self.customers.get(customer_id) or subs.Customer()
        if event.event_id in customer.recent_ids:
            return Outcome("duplicate")
        try:
            change = subs.apply(customer, event, self._rate_for(pinned), self.reporting)
        except subs.Rejected as exc:
            return Outcome("rejected", str(exc.args[0]))
        self.customers[customer_id] = customer
        self._record(event, change)
        return Outcome("applied", pinned=change.pinned)

    def _record(self, event: t.Event, change: subs.Change) -> None:
        old, new = change.old_mrr, change.new_mrr
        kind = subs.movement_kind(old, new, change.had_mrr)
        if kind:
            self._movement(event.day, kind, new - old if new > old else old - new)
            if kind == "churn" and change.involuntary:
                self._movement(event.day, "involuntary_churn", old)
        self.mrr += new - old
        if (new > 0) != (old > 0):
            self.paying += 1 if new > 0 else -1
            self.recency.set_paying(event.customer_id, new > 0)  # type: ignore[attr-defined]
        self.concentration.update(old, new)
        for plan in change.old_plans.keys() | change.new_plans.keys():
            before, after = change.old_plans.get(plan, 0), change.new_plans.get(plan, 0)
            self.plan_mrr[plan] = self.plan_mrr.get(plan, 0) + after - before
            self.plan_customers[plan] = (
                self.plan_customers.get(plan, 0) + (after > 0) - (before > 0)
            )
        for flag, key in (
            (change.trial_started, "trials"),
            (change.converted, "conversions"),
            (change.trial_ended, "trials_ended"),
        ):
            if flag:
                self.ledger.add(event.day, key)

    def _movement(self, day: int, kind: str, amount: Money) -> None:
        self.ledger.add(day, f"mv.{kind}", amount)
        self.ledger.add(day, f"n.{kind}")
        self.movement_totals[kind] = self.movement_totals.get(kind, 0) + amount

    def _apply_business(
        self, event: t.Event, pinned: dict[str, Fraction] | None, source: str
    ) -> Outcome:
        if isinstance(event, t.FxRate):
            added = self.fx.add(event.event_id, event.currency, event.ts, event.rate)
            return Outcome("applied" if added else "duplicate")
        if event.event_id in self._business_ids:
            return Outcome("duplicate")
        amount: Money = 0
        used: dict[str, Fraction] = {}
        currency = getattr(event, "currency", None)
        if currency is not None:
            rate = self._rate_for(pinned)(currency, event.ts)
            if rate is None:
                return Outcome("rejected", "unknown_currency")
            amount = convert(event.amount, currency, rate, self.reporting)  # type: ignore[attr-defined]
            if currency != self.reporting:
                used[currency] = rate
        self._business_ids.add(event.event_id, event.day, source)
        self._book(event, amount)
        return Outcome("applied", pinned=used)

    def _book(self, event: t.Event, amount: Money) -> None:
        day = event.day
        if isinstance(event, t.Payment):
            self.ledger.add(day, PAYMENT_KEYS[event.type], amount)
        elif isinstance(event, t.Spend):
            self.ledger.add(day, f"spend.{event.category}", amount)
        elif isinstance(event, t.CashBalance):
            self._sequence += 1
            if self.cash is None or event.ts >= self.cash[0]:
                self.cash = (event.ts, self._sequence, amount)
        elif isinstance(event, t.LeadCreated):
            self.ledger.add(day, "leads")
        elif isinstance(event, t.TicketOpened):
            self.ledger.add(day, "tickets")
        elif isinstance(event, t.NpsResponse):
            self.ledger.add(day, "nps.n")
            if event.score >= 9:
                self.ledger.add(day, "nps.promoter")
            elif event.score <= 6:
                self.ledger.add(day, "nps.detractor")

    # -- reading ------------------------------------------------------------
    def at_risk(self, asof_day: int | None, days: int = 14) -> int:
        """Paying customers with no usage event in the `days`-day window ending at `asof_day`."""
        return self.recency.idle(None if asof_day is None else asof_day - days + 1)
