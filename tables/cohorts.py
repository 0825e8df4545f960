"""Signup cohorts and their retention (SPEC §3.1, v2).

A customer's cohort is the UTC month of the `ts` of its `new` movement. Its MRR
at the end of month m is the signed sum of its movements (new, expansion,
reactivation +; contraction, churn −) whose `ts` falls in month m or earlier.
For cohort c and age a (m = c + a ≤ month of T): logo retention = customers
of c with MRR at end of m > 0 / cohort size; MRR retention = Σ MRR at end of m
/ Σ MRR at end of c. Exported for the cohorts of the 12 months ending at the
month of T; older cohorts are forgotten (a customer's cohort never changes,
so they can never be exported again).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache

from tables.money import Money
from tables.movements import NEW, SIGN, Movement
from tables.samples import Sample, optional, ratio

MONTHS = 12


def month_of(ts: float) -> int:
    """Months since year 0 of the UTC month containing `ts`."""
    return _month_of_day(int(ts // 86400))


@cache
def _month_of_day(day: int) -> int:
    moment = datetime.fromtimestamp(day * 86400, UTC)
    return moment.year * 12 + moment.month - 1


def month_label(month: int) -> str:
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


class Cohorts:
    def __init__(self) -> None:
        self.cohort_of: dict[str, int] = {}
        self.members: dict[int, list[str]] = {}
        self.nets: dict[str, dict[int, Money]] = {}  # customer -> month -> signed sum
        self._newest = -(10**9)

    def on_change(self, customer_id: str, ts: float, moves: tuple[Movement, ...]) -> None:
        if not moves:
            return
        month = month_of(ts)
        if moves[0].kind == NEW and customer_id not in self.cohort_of:
            self.cohort_of[customer_id] = month
            self.members.setdefault(month, []).append(customer_id)
        if customer_id not in self.cohort_of:
            return  # never new here (its cohort was forgotten): no cohort to report
        nets = self.nets.setdefault(customer_id, {})
        for move in moves:
            nets[month] = nets.get(month, 0) + SIGN[move.kind] * move.amount
        self._forget_before(month - MONTHS + 1)

    def _forget_before(self, oldest: int) -> None:
        if oldest <= self._newest:
            return
        self._newest = oldest
        for month in [m for m in self.members if m < oldest]:
            for customer_id in self.members.pop(month):
                del self.cohort_of[customer_id]  # `new` happens once: never again
                self.nets.pop(customer_id, None)

    def samples(self, asof_ts: float | None) -> Iterator[Sample]:
        if asof_ts is None:
            return
        now = month_of(asof_ts)
        for cohort in range(now - MONTHS + 1, now + 1):
            members = self.members.get(cohort)
            if members:
                yield from self._cohort(cohort, now, members)

    def _cohort(self, cohort: int, now: int, members: list[str]) -> Iterator[Sample]:
        label = month_label(cohort)
        yield "saas_cohort_customers", (("cohort", label),), float(len(members))
        ages = now - cohort + 1
        alive = [0] * ages
        mrr: list[Money] = [0] * ages
        for customer_id in members:
            for age, value in enumerate(self._month_ends(customer_id, cohort, ages)):
                alive[age] += value > 0
                mrr[age] += value
        for age in range(ages):
            labels = (("cohort", label), ("age", str(age)))
            yield "saas_cohort_logo_retention", labels, alive[age] / len(members)
            yield from optional("saas_cohort_mrr_retention", labels, ratio(mrr[age], mrr[0]))

    def _month_ends(self, customer_id: str, cohort: int, ages: int) -> list[Money]:
        """The customer's MRR at the end of months cohort … cohort + ages − 1."""
        nets = self.nets.get(customer_id, {})
        running: Money = sum((v for m, v in nets.items() if m <= cohort), start=0)
        ends = [running]
        for month in range(cohort + 1, cohort + ages):
            running += nets.get(month, 0)
            ends.append(running)
        return ends
