"""Breakdowns by segment (SPEC §3.1, v2): per dimension (`country`, `channel`) the
version 1 formulas restricted to the customers *now* in each segment.

A customer's attributes are sticky (an absent field keeps its value; never
given: `unknown`). Its current MRR is counted in its current segment, moved
along when an attribute changes; its movements of the last days are kept per
customer, so a customer who changes segment takes its window history along.
Which series exist: segments with MRR > 0 now or a movement in the 30-day
window, the `cap` largest by MRR (ties by name), the rest merged as `other`
(figures over the union of their customers — every figure is a sum over
customers, so merging is adding).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from events import types as t
from tables import churn
from tables.money import Money
from tables.movements import KINDS, NEW, Movement, Movements
from tables.samples import W30, Sample, capped, major_mrr, optional, ratio

DIMENSIONS = ("country", "channel")
UNKNOWN = "unknown"
KEEP_DAYS = 40  # > the 30-day window: older movements can no longer be in a window
ChannelSpend = Callable[[list[str]], Money]


@dataclass(slots=True)
class Figures:
    """One segment: current MRR and paying customers, movements in the window."""

    mrr: Money = 0
    paying: int = 0
    amount: dict[str, Money] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    count: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def add(self, other: Figures) -> None:
        self.mrr += other.mrr
        self.paying += other.paying
        for kind, count in other.count.items():
            if count:  # most kinds of a day are 0: skip the (Fraction) additions
                self.amount[kind] += other.amount[kind]
                self.count[kind] += count

    def movements(self) -> Movements:
        return Movements(self.amount, self.count)


class Segments:
    def __init__(self, minor: int, cap: int = 20) -> None:
        self.minor = minor
        self.cap = cap
        self.attrs: dict[str, dict[str, str]] = {d: {} for d in DIMENSIONS}
        self.mrr: dict[str, Money] = {}  # customer -> current MRR (paying customers only)
        self.seg_mrr: dict[str, dict[str, Money]] = {d: {} for d in DIMENSIONS}
        self.seg_paying: dict[str, dict[str, int]] = {d: {} for d in DIMENSIONS}
        # dimension -> segment -> day -> movement sums of the customers now in it
        self.sums: dict[str, dict[str, dict[int, Figures]]] = {d: {} for d in DIMENSIONS}
        self.recent: dict[str, list[tuple[int, Movement]]] = {}  # customer -> its movements
        self._latest = -(10**9)
        self._swept = -(10**9)

    def segment(self, dimension: str, customer_id: str) -> str:
        return self.attrs[dimension].get(customer_id, UNKNOWN)

    def on_change(self, event: t.Event, new_mrr: Money, moves: tuple[Movement, ...]) -> None:
        """Book one subscription-topic event: new attributes, the customer's MRR now
        and the movements it made."""
        customer_id: str = getattr(event, "customer_id")  # noqa: B009 - subscription events
        old_mrr = self.mrr.get(customer_id, 0)
        if isinstance(event, t.CustomerUpdated):
            self._rebook(customer_id, old_mrr, 0)
            self._move_history(customer_id, -1)
            for dimension in DIMENSIONS:
                value = getattr(event, dimension)
                if value is not None:
                    self.attrs[dimension][customer_id] = value
            self._move_history(customer_id, +1)
            self._rebook(customer_id, 0, new_mrr)
        elif new_mrr != old_mrr:
            self._rebook(customer_id, old_mrr, new_mrr)
        if moves:
            self._remember(customer_id, event.day, moves)

    def _rebook(self, customer_id: str, old: Money, new: Money) -> None:
        """The customer's MRR moved from `old` to `new` in its current segments
        (0 = not paying: taken out of, or put into, its segments' paying count)."""
        if new:
            self.mrr[customer_id] = new
        else:
            self.mrr.pop(customer_id, None)
        if new == old:
            return
        joined = (new > 0) - (old > 0)
        for dimension in DIMENSIONS:
            name = self.segment(dimension, customer_id)
            totals, paying = self.seg_mrr[dimension], self.seg_paying[dimension]
            totals[name] = totals.get(name, 0) + new - old
            count = paying[name] = paying.get(name, 0) + joined
            if not count:
                del totals[name], paying[name]

    def _add(self, customer_id: str, day: int, move: Movement, sign: int) -> None:
        """Add (+1) or remove (−1) one movement in the day sums of the customer's segments."""
        for dimension in DIMENSIONS:
            name = self.segment(dimension, customer_id)
            segments = self.sums[dimension]
            days = segments.get(name)
            if days is None:
                days = segments[name] = {}
            cell = days.get(day)
            if cell is None:
                cell = days[day] = Figures()
            cell.amount[move.kind] += sign * move.amount
            cell.count[move.kind] += sign
            if sign < 0 and not any(cell.count.values()):
                del days[day]

    def _move_history(self, customer_id: str, sign: int) -> None:
        """Take the customer's recent movements out of (−1) or into (+1) its segments:
        a customer who changes segment takes its history with it (SPEC §3.1)."""
        for day, move in self.recent.get(customer_id, ()):
            if day > self._latest - KEEP_DAYS:
                self._add(customer_id, day, move, sign)

    def _remember(self, customer_id: str, day: int, moves: tuple[Movement, ...]) -> None:
        kept = self.recent.setdefault(customer_id, [])
        for move in moves:
            kept.append((day, move))
            self._add(customer_id, day, move, +1)
        if day > self._latest:
            self._advance(day)

    def _advance(self, day: int) -> None:
        """Forget day sums older than any window can reach; every KEEP_DAYS, the
        customers' movements too."""
        self._latest = day
        horizon = day - KEEP_DAYS
        for segments in self.sums.values():
            for days in segments.values():
                for old in [d for d in days if d <= horizon]:
                    del days[old]
        if day - self._swept >= KEEP_DAYS:
            self._swept = day
            for customer_id in list(self.recent):
                kept = [(d, m) for d, m in self.recent[customer_id] if d > horizon]
                if kept:
                    self.recent[customer_id] = kept
                else:
                    del self.recent[customer_id]

    def figures(self, dimension: str, asof_day: int | None) -> dict[str, Figures]:
        """Per segment of `dimension`: MRR, paying and 30-day movement sums."""
        paying = self.seg_paying[dimension]
        per = {name: Figures(mrr, paying[name]) for name, mrr in self.seg_mrr[dimension].items()}
        if asof_day is None:
            return per
        for name, days in self.sums[dimension].items():
            for day in range(asof_day - 29, asof_day + 1):
                cell = days.get(day)
                if cell is not None:
                    per.setdefault(name, Figures()).add(cell)
        return per

    def samples(self, asof_day: int | None, spend: ChannelSpend) -> Iterator[Sample]:
        for dimension in DIMENSIONS:
            per = self.figures(dimension, asof_day)
            for label, names in capped({name: f.mrr for name, f in per.items()}, self.cap):
                merged = Figures()
                for name in names:
                    merged.add(per[name])
                yield from self._segment(dimension, label, names, merged, spend)

    def _segment(
        self, dimension: str, label: str, names: list[str], f: Figures, spend: ChannelSpend
    ) -> Iterator[Sample]:
        labels = (("dimension", dimension), ("segment", label))
        window = (*labels, *W30)
        w = f.movements()
        yield "saas_segment_mrr", labels, major_mrr(f.mrr, self.minor)
        yield "saas_segment_paying_customers", labels, float(f.paying)
        yield "saas_segment_new_customers", window, float(f.count[NEW])
        yield from optional(
            "saas_segment_customer_churn_rate", window, churn.customer_churn_rate(f.paying, w)
        )
        yield from optional("saas_segment_nrr", window, churn.nrr(f.mrr, w))
        if dimension == "channel" and label != UNKNOWN:
            acquisition = spend([n for n in names if n != UNKNOWN])
            cac = ratio(acquisition, f.count[NEW] * self.minor)
            yield from optional("saas_segment_cac", window, cac)
