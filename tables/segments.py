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
UNKNOWN, OTHER = "unknown", "other"
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
        for kind in KINDS:
            self.amount[kind] += other.amount[kind]
            self.count[kind] += other.count[kind]

    def movements(self) -> Movements:
        return Movements(self.amount, self.count)


class Segments:
    def __init__(self, minor: int, cap: int = 20) -> None:
        self.minor = minor
        self.cap = cap
        self.attrs: dict[str, dict[str, str]] = {d: {} for d in DIMENSIONS}
        self.mrr: dict[str, Money] = {}  # customer -> current MRR (paying customers only)
        self.totals: dict[str, dict[str, Figures]] = {d: {} for d in DIMENSIONS}
        self.recent: dict[str, list[tuple[int, Movement]]] = {}  # customer -> (day, movement)
        self._latest = -(10**9)

    def segment(self, dimension: str, customer_id: str) -> str:
        return self.attrs[dimension].get(customer_id, UNKNOWN)

    def on_change(self, event: t.Event, new_mrr: Money, moves: tuple[Movement, ...]) -> None:
        """Book one subscription-topic event: new attributes, the customer's MRR now
        and the movements it made."""
        customer_id: str = getattr(event, "customer_id")  # noqa: B009 - subscription events
        self._count(customer_id, -1)
        if isinstance(event, t.CustomerUpdated):
            for dimension in DIMENSIONS:
                value = getattr(event, dimension)
                if value is not None:
                    self.attrs[dimension][customer_id] = value
        if new_mrr:
            self.mrr[customer_id] = new_mrr
        else:
            self.mrr.pop(customer_id, None)
        self._count(customer_id, +1)
        if moves:
            self._remember(customer_id, event.day, moves)

    def _count(self, customer_id: str, sign: int) -> None:
        """Add (+1) or remove (−1) the customer's MRR from its current segments."""
        mrr = self.mrr.get(customer_id, 0)
        if not mrr:
            return
        for dimension in DIMENSIONS:
            name = self.segment(dimension, customer_id)
            one = self.totals[dimension].setdefault(name, Figures())
            one.mrr += sign * mrr
            one.paying += sign
            if not one.paying:
                del self.totals[dimension][name]

    def _remember(self, customer_id: str, day: int, moves: tuple[Movement, ...]) -> None:
        self.recent.setdefault(customer_id, []).extend((day, move) for move in moves)
        if day <= self._latest:
            return
        self._latest = day
        horizon = day - KEEP_DAYS
        for key in list(self.recent):
            kept = [(d, m) for d, m in self.recent[key] if d > horizon]
            if kept:
                self.recent[key] = kept
            else:
                del self.recent[key]

    def figures(self, dimension: str, asof_day: int | None) -> dict[str, Figures]:
        """Per segment of `dimension`: MRR, paying and 30-day movement sums."""
        per = {name: Figures(f.mrr, f.paying) for name, f in self.totals[dimension].items()}
        if asof_day is None:
            return per
        first = asof_day - 29
        for customer_id, moves in self.recent.items():
            for day, move in moves:
                if first <= day <= asof_day:
                    one = per.setdefault(self.segment(dimension, customer_id), Figures())
                    one.amount[move.kind] += move.amount
                    one.count[move.kind] += 1
        return per

    def samples(self, asof_day: int | None, spend: ChannelSpend) -> Iterator[Sample]:
        for dimension in DIMENSIONS:
            per = self.figures(dimension, asof_day)
            kept, rest = capped({name: f.mrr for name, f in per.items()}, self.cap)
            groups = [(name, [name]) for name in sorted(kept)]
            if rest:
                groups.append((OTHER, rest))
            for label, names in groups:
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
