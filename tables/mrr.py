"""The MRR family (SPEC §3, §4): MRR, ARR, ARPA, paying customers, MRR per plan,
and the movements since start and per window.

`on_change` books one customer's MRR change (a `subscriptions.Change`) and
returns the movements it made, so that the other families (segments, cohorts)
see exactly the same kinds and amounts. MRR is in MRR units (`tables.money`).
"""

from __future__ import annotations

from collections.abc import Iterator

from tables.ledger import Ledger
from tables.money import MRR_UNITS_PER_MINOR, Money
from tables.movements import KINDS, Movement, Movements, classify
from tables.samples import Sample, capped, major_mrr, ratio
from tables.subscriptions import Change

MOVEMENT_WINDOWS = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}


class Mrr:
    """Totals, per-plan MRR and customers, and movement sums per day."""

    def __init__(self, minor: int, max_plans: int = 50) -> None:
        self.minor = minor
        self.max_plans = max_plans
        self.total: Money = 0
        self.paying = 0
        self.plans: dict[str, Money] = {}
        self.plan_customers: dict[str, int] = {}
        self.since_start: dict[str, Money] = dict.fromkeys(KINDS, 0)
        self._amounts = Ledger()
        self._counts = Ledger()

    def on_change(self, day: int, change: Change) -> tuple[Movement, ...]:
        old, new = change.old_mrr, change.new_mrr
        moves = classify(old, new, change.had_mrr, change.involuntary)
        for move in moves:
            self._amounts.add(day, move.kind, move.amount)
            self._counts.add(day, move.kind)
            self.since_start[move.kind] += move.amount
        self.total += new - old
        self.paying += (new > 0) - (old > 0)
        self._book_plans(change.plans)
        return moves

    def _book_plans(self, plans: dict[str, tuple[Money, Money]]) -> None:
        """Per plan, the customer's MRR on it moved from `old` to `new`."""
        for plan, (old, new) in plans.items():
            self.plans[plan] = self.plans.get(plan, 0) + new - old
            self.plan_customers[plan] = self.plan_customers.get(plan, 0) + (new > 0) - (old > 0)
            if not self.plans[plan] and not self.plan_customers[plan]:
                del self.plans[plan], self.plan_customers[plan]

    def window(self, asof_day: int | None, days: int) -> Movements:
        """Movement sums over the `days` days ending at `asof_day`."""
        counts = {k: int(v) for k, v in self._counts.window(asof_day, days, KINDS).items()}
        return Movements(self._amounts.window(asof_day, days, KINDS), counts)

    def arpa(self) -> float | None:
        """ARPA in major units: MRR / paying customers."""
        return ratio(self.total, self.paying * MRR_UNITS_PER_MINOR * self.minor)

    def samples(self, windows: dict[str, Movements]) -> Iterator[Sample]:
        yield "saas_mrr", (), major_mrr(self.total, self.minor)
        yield "saas_arr", (), 12 * major_mrr(self.total, self.minor)
        yield "saas_paying_customers", (), float(self.paying)
        arpa = self.arpa()
        if arpa is not None:
            yield "saas_arpa", (), arpa
        yield from self._plan_samples()
        for kind in KINDS:
            kind_label = (("kind", kind),)
            yield (
                "saas_mrr_movement_total",
                kind_label,
                major_mrr(self.since_start[kind], self.minor),
            )
            for window in MOVEMENT_WINDOWS:
                value = major_mrr(windows[window].amount[kind], self.minor)
                yield "saas_mrr_movement", (*kind_label, ("window", window)), value

    def _plan_samples(self) -> Iterator[Sample]:
        """Plans with MRR > 0, the `max_plans` largest by name, the rest summed as "other"."""
        live = {plan: mrr for plan, mrr in self.plans.items() if mrr > 0}
        for label, plans in capped(live, self.max_plans):
            mrr = sum((live[p] for p in plans), start=0)
            customers = sum(self.plan_customers[p] for p in plans)
            yield "saas_plan_mrr", (("plan", label),), major_mrr(mrr, self.minor)
            yield "saas_plan_customers", (("plan", label),), float(customers)
