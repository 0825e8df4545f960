"""The global fold: every subscription, payment and business event -> KPI state.

Each worker keeps one `Store` and applies to it every accepted event of its own
partitions *and* every fact written by other workers (docs/architecture.md).
The store itself only dispatches and keeps things idempotent: it ignores an
`event_id` it already applied (so the two paths, replays after a crash and
duplicated input converge), converts money at the event's `ts`, and hands each
event to the KPI families that care about it (one module each, see
docs/architecture.md "Where does X live"). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from events import types as t
from tables import subscriptions as subs
from tables.cohorts import Cohorts
from tables.commitment import Commitment
from tables.concentration import Concentration
from tables.dedupe import IdsByDay, RecentIds
from tables.economics import Economics
from tables.funnel import Funnel
from tables.fx import FxRates
from tables.money import Money, convert, exponent
from tables.mrr import Mrr
from tables.recency import Recency
from tables.satisfaction import Satisfaction
from tables.segments import Segments
from tables.support import Support

DAY = 86400
Booking = Callable[[Any, Money], None]


@dataclass(slots=True)
class Outcome:
    """What `Store.apply` did: "applied", "duplicate" or "rejected" (with reason)."""

    status: str
    reason: str = ""
    pinned: dict[str, Fraction] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Counted:
    """A booking that needs no amount (counts, scores, tickets). A class, not a
    closure, so that a Store pickles as it is (engine/snapshots.py)."""

    book: Callable[[Any], None]

    def __call__(self, event: Any, _amount: Money) -> None:
        self.book(event)


class Store:
    """The KPI families of one deployment, fed idempotently."""

    def __init__(self, reporting: str = "USD", max_plans: int = 50, max_segments: int = 20):
        self.reporting = reporting
        self.minor = 10 ** exponent(reporting)
        self.fx = FxRates(reporting)
        self.customers: dict[str, subs.Customer] = {}
        self.mrr = Mrr(self.minor, max_plans)
        self.commitment = Commitment(self.minor)
        self.segments = Segments(self.minor, max_segments)
        self.cohorts = Cohorts()
        self.concentration = Concentration()
        self.recency = Recency()
        self.funnel = Funnel()
        self.economics = Economics(self.minor)
        self.support = Support()
        self.satisfaction = Satisfaction()
        self.processed: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.duplicates: dict[str, int] = {}
        self.asof: float | None = None
        self._business_ids = IdsByDay()
        self._input_keys = RecentIds(500_000)
        self._bookings = self._booking_table()
        self._refusals: dict[type[t.Event], Callable[[Any], str | None]] = {
            t.TicketReplied: self.support.refusal,
            t.TicketResolved: self.support.refusal,
        }

    def _booking_table(self) -> dict[type[t.Event], Booking]:
        """Which family books each payment and business event type."""
        return {
            t.Payment: self.economics.book_payment,
            t.Spend: self.economics.book_spend,
            t.CashBalance: self.economics.book_cash,
            t.LeadCreated: _Counted(self.funnel.book_lead),
            t.Signup: _Counted(self.funnel.book_signup),
            t.TicketOpened: _Counted(self.support.book_opened),
            t.TicketReplied: _Counted(self.support.book_replied),
            t.TicketResolved: _Counted(self.support.book_resolved),
            t.NpsResponse: _Counted(self.satisfaction.book_nps),
            t.CsatResponse: _Counted(self.satisfaction.book_csat),
        }

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
        if isinstance(event, t.SUBSCRIPTION_EVENTS):
            outcome = self._apply_subscription(event, pinned)
        elif isinstance(event, t.FxRate):
            added = self.fx.add(event.event_id, event.currency, event.ts, event.rate)
            outcome = Outcome("applied" if added else "duplicate")
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

    def note_usage(self, customer_id: str, day: int) -> None:
        """A usage event of `customer_id` on `day` (max kept; idempotent)."""
        self.recency.use(customer_id, day)

    def _count_once(self, key: str, counter: dict[str, int], label: str) -> bool:
        if key in self._input_keys:
            return False
        self._input_keys.add(key)
        counter[label] = counter.get(label, 0) + 1
        return True

    def _rate_for(self, pinned: dict[str, Fraction] | None) -> subs.RateFor:
        if not pinned:
            return self.fx.rate_at
        return lambda currency, ts: pinned.get(currency) or self.fx.rate_at(currency, ts)

    def _apply_subscription(
        self, event: subs.SubscriptionEvent, pinned: dict[str, Fraction] | None
    ) -> Outcome:
        customer = self.customers.get(event.customer_id) or subs.Customer()
        if event.event_id in customer.recent_ids:
            return Outcome("duplicate")
        try:
            change = subs.apply(customer, event, self._rate_for(pinned), self.reporting)
        except subs.Rejected as exc:
            return Outcome("rejected", str(exc.args[0]))
        self.customers[event.customer_id] = customer
        self._record(event, change)
        return Outcome("applied", pinned=change.pinned)

    def _record(self, event: subs.SubscriptionEvent, change: subs.Change) -> None:
        """Hand one customer change to every family that follows subscriptions."""
        old, new = change.old_mrr, change.new_mrr
        moves = self.mrr.on_change(event.day, change)
        self.commitment.on_change(change)
        self.funnel.on_change(event.day, change)
        self.segments.on_change(event, new, moves)
        self.cohorts.on_change(event.customer_id, event.ts, moves)
        self.concentration.update(old, new)
        if (new > 0) != (old > 0):
            self.recency.set_paying(event.customer_id, new > 0)

    def _apply_business(
        self, event: t.Event, pinned: dict[str, Fraction] | None, source: str
    ) -> Outcome:
        if event.event_id in self._business_ids:
            return Outcome("duplicate")
        refusal = self._refusals.get(type(event))
        reason = refusal(event) if refusal else None
        if reason:
            return Outcome("rejected", reason)
        amount: Money = 0
        used: dict[str, Fraction] = {}
        currency = getattr(event, "currency", None)
        if currency is not None:
            rate = self._rate_for(pinned)(currency, event.ts)
            if rate is None:
                return Outcome("rejected", "unknown_currency")
            amount = convert(getattr(event, "amount"), currency, rate, self.reporting)  # noqa: B009
            if currency != self.reporting:
                used[currency] = rate
        self._business_ids.add(event.event_id, event.day, source)
        booking = self._bookings.get(type(event))
        if booking is not None:  # usage and visits are counted by the usage side
            booking(event, amount)
        return Outcome("applied", pinned=used)
