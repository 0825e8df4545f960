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

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

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


@dataclass(slots=True)
class Member:
    """One customer of a cohort: its signed movement sums per month, their total (its
    MRR now) and the latest month with a movement."""

    cohort: int
    last: int
    total: Money = 0
    nets: dict[int, Money] = field(default_factory=dict)


class Cohorts:
    """Per cohort, the month-by-month changes of its MRR and of its customers with
    MRR > 0 (`steps`), kept as each movement arrives: a report adds up at most
    12 × 12 steps instead of walking every member."""

    def __init__(self) -> None:
        self.customers: dict[str, Member] = {}
        self.members: dict[int, list[str]] = {}
        # cohort -> month -> change at the end of that month (months before the cohort's
        # own are booked at the cohort month: its month-end MRR includes them)
        self.mrr_steps: dict[int, dict[int, Money]] = {}
        self.alive_steps: dict[int, dict[int, int]] = {}
        self._newest = -(10**9)

    def on_change(self, customer_id: str, ts: float, moves: tuple[Movement, ...]) -> None:
        if not moves:
            return
        month = month_of(ts)
        member = self.customers.get(customer_id)
        if member is None:
            if moves[0].kind != NEW:
                return  # never new here (its cohort was forgotten): no cohort to report
            member = self.customers[customer_id] = Member(month, month)
            self.members.setdefault(month, []).append(customer_id)
            self.mrr_steps.setdefault(month, {})
            self.alive_steps.setdefault(month, {})
        delta: Money = 0
        for move in moves:
            delta += SIGN[move.kind] * move.amount
        cohort, nets = member.cohort, member.nets
        if month >= member.last:  # in event-time order: only the last step moves
            alive = (member.total + delta > 0) - (member.total > 0)
            _add(self.alive_steps[cohort], max(month, cohort), alive)
            member.last = month
            nets[month] = nets.get(month, 0) + delta
        else:  # a late movement: the customer's whole step function may change
            before = _alive_steps(nets, cohort)
            nets[month] = nets.get(month, 0) + delta
            after = _alive_steps(nets, cohort)
            for step in before.keys() | after.keys():
                _add(self.alive_steps[cohort], step, after.get(step, 0) - before.get(step, 0))
        member.total += delta
        _add(self.mrr_steps[cohort], max(month, cohort), delta)
        self._forget_before(month - MONTHS + 1)

    def _forget_before(self, oldest: int) -> None:
        if oldest <= self._newest:
            return
        self._newest = oldest
        for month in [m for m in self.members if m < oldest]:
            for customer_id in self.members.pop(month):
                del self.customers[customer_id]  # `new` happens once: never again
            del self.mrr_steps[month], self.alive_steps[month]

    def samples(self, asof_ts: float | None) -> Iterator[Sample]:
        if asof_ts is None:
            return
        now = month_of(asof_ts)
        for cohort in range(now - MONTHS + 1, now + 1):
            members = self.members.get(cohort)
            if members:
                yield from self._cohort(cohort, now, len(members))

    def _cohort(self, cohort: int, now: int, size: int) -> Iterator[Sample]:
        label = month_label(cohort)
        yield "saas_cohort_customers", (("cohort", label),), float(size)
        alive = _month_ends(self.alive_steps[cohort], cohort, now)
        mrr = _month_ends(self.mrr_steps[cohort], cohort, now)
        for age in range(now - cohort + 1):
            labels = (("cohort", label), ("age", str(age)))
            yield "saas_cohort_logo_retention", labels, int(alive[age]) / size
            yield from optional("saas_cohort_mrr_retention", labels, ratio(mrr[age], mrr[0]))


def _add(steps: dict[int, Any], month: int, change: Money) -> None:
    if change:
        steps[month] = steps.get(month, 0) + change


def _month_ends(steps: Mapping[int, Money], cohort: int, now: int) -> list[Money]:
    """Running sums of `steps` at the end of months cohort … now."""
    ends: list[Money] = []
    running: Money = 0
    for month in range(cohort, now + 1):
        running += steps.get(month, 0)
        ends.append(running)
    return ends


def _alive_steps(nets: dict[int, Money], cohort: int) -> dict[int, int]:
    """Where one customer's MRR > 0 switches on (+1) or off (−1) at a month end."""
    steps: dict[int, int] = {}
    running: Money = 0
    alive = False
    for month in sorted(nets):
        running += nets[month]
        if (running > 0) != alive:
            alive = not alive
            step = max(month, cohort)
            steps[step] = steps.get(step, 0) + (1 if alive else -1)
    return steps
