"""Cohorts keep their month-end steps as movements arrive: the report must equal a
recomputation from every member's movements, in any arrival order (late movements
in earlier months included) and across the 12-month horizon."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from tables.cohorts import MONTHS, Cohorts, month_label, month_of
from tables.movements import CHURN, CONTRACTION, EXPANSION, NEW, REACTIVATION, SIGN, Movement
from tables.samples import Sample

KINDS = (EXPANSION, CONTRACTION, CHURN, REACTIVATION)
MOVE = st.tuples(
    st.sampled_from([f"c{i}" for i in range(5)]),
    st.integers(0, 17),  # month offset from 2025-01
    st.sampled_from(KINDS),
    st.integers(1, 5_000),
)


def _ts(offset: int) -> float:
    return datetime(2025 + offset // 12, offset % 12 + 1, 15, tzinfo=UTC).timestamp()


def _recomputed(history: list[tuple[str, float, Movement]], asof: float) -> Iterator[Sample]:
    """The definition, from scratch: cohort = month of the customer's `new`; cohorts
    older than the 12 months ending at the newest movement of a cohort customer are
    forgotten; month-end MRR = the signed sum of its movements up to that month."""
    cohort_of: dict[str, int] = {}
    nets: dict[str, dict[int, int]] = {}
    newest = -(10**9)
    for customer, ts, move in history:
        month = month_of(ts)
        if move.kind == NEW and customer not in cohort_of:
            cohort_of[customer] = month
        if customer not in cohort_of:
            continue
        days = nets.setdefault(customer, {})
        days[month] = days.get(month, 0) + SIGN[move.kind] * move.amount
        oldest = month - MONTHS + 1
        if oldest > newest:
            newest = oldest
            for gone in [c for c, m in cohort_of.items() if m < oldest]:
                del cohort_of[gone]
                nets.pop(gone, None)
    now = month_of(asof)
    for cohort in range(now - MONTHS + 1, now + 1):
        members = [c for c, m in cohort_of.items() if m == cohort]
        if not members:
            continue
        label = month_label(cohort)
        yield "saas_cohort_customers", (("cohort", label),), float(len(members))
        ends = [
            [sum(v for m, v in nets[c].items() if m <= month) for month in range(cohort, now + 1)]
            for c in members
        ]
        for age in range(now - cohort + 1):
            labels = (("cohort", label), ("age", str(age)))
            alive = sum(1 for e in ends if e[age] > 0)
            yield "saas_cohort_logo_retention", labels, alive / len(members)
            first, current = sum(e[0] for e in ends), sum(e[age] for e in ends)
            if first:
                yield "saas_cohort_mrr_retention", labels, current / first


@settings(max_examples=300, deadline=None)
@given(st.lists(MOVE, min_size=1, max_size=40))
def test_cohort_steps_equal_a_recomputation_in_any_arrival_order(moves: list) -> None:
    cohorts = Cohorts()
    history = []
    for customer, offset, later_kind, amount in moves:
        # a customer's first MRR movement is its `new` (had_mrr never resets), and
        # later ones may be in earlier months (late events)
        kind = later_kind if customer in {c for c, _ts, _m in history} else NEW
        ts, move = _ts(offset), Movement(kind, amount)
        cohorts.on_change(customer, ts, (move,))
        history.append((customer, ts, move))
    asof = max(ts for _c, ts, _m in history)
    got = sorted(cohorts.samples(asof))
    want = sorted(_recomputed(history, asof))
    assert [(n, labels) for n, labels, _v in got] == [(n, labels) for n, labels, _v in want]
    for (_n, labels, value), (_m, _l, expected) in zip(got, want, strict=True):
        assert abs(value - expected) < 1e-9, (labels, value, expected)
