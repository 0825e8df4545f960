"""MRR movements (SPEC §3): the kind of a customer's MRR change, and window sums.

Every applied event that changes a customer's MRR from `old` to `new` is one
movement of amount |new − old|. Its kind is decided here and only here; the
churn that a `payment_failed` cancel causes is also booked as
`involuntary_churn` (a subset of churn, never a sixth kind in the formulas).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tables.money import Money

NEW, EXPANSION, CONTRACTION = "new", "expansion", "contraction"
CHURN, REACTIVATION, INVOLUNTARY = "churn", "reactivation", "involuntary_churn"
KINDS = (NEW, EXPANSION, CONTRACTION, CHURN, REACTIVATION, INVOLUNTARY)
SIGN = {NEW: 1, EXPANSION: 1, REACTIVATION: 1, CONTRACTION: -1, CHURN: -1, INVOLUNTARY: 0}


@dataclass(frozen=True, slots=True)
class Movement:
    kind: str
    amount: Money  # MRR units (tables.money), > 0


def kind_of(old: Money, new: Money, had_mrr: bool) -> str | None:
    """SPEC §3 movement kind of a customer MRR change, or None when MRR did not change."""
    if new == old:
        return None
    if old == 0:
        return REACTIVATION if had_mrr else NEW
    if new == 0:
        return CHURN
    return EXPANSION if new > old else CONTRACTION


def classify(old: Money, new: Money, had_mrr: bool, involuntary: bool) -> tuple[Movement, ...]:
    """The movements one customer MRR change makes (none, one, or churn + involuntary)."""
    kind = kind_of(old, new, had_mrr)
    if kind is None:
        return ()
    moved = Movement(kind, new - old if new > old else old - new)
    if kind == CHURN and involuntary:
        return moved, Movement(INVOLUNTARY, old)
    return (moved,)


@dataclass(frozen=True, slots=True)
class Movements:
    """Sums over one window: amount (MRR units) and number of movements per kind."""

    amount: Mapping[str, Money]
    count: Mapping[str, int]

    def net(self) -> Money:
        """Net new MRR: new + reactivation + expansion − contraction − churn."""
        return sum((SIGN[k] * v for k, v in self.amount.items()), start=0)

    def lost(self) -> Money:
        return self.amount[CHURN] + self.amount[CONTRACTION]

    @staticmethod
    def zero() -> Movements:
        return Movements(dict.fromkeys(KINDS, 0), dict.fromkeys(KINDS, 0))

    @staticmethod
    def total(parts: list[Movements]) -> Movements:
        """The sum of several windows' movements (segments merged as "other")."""
        amount = {k: sum((p.amount[k] for p in parts), start=0) for k in KINDS}
        count = {k: sum(p.count[k] for p in parts) for k in KINDS}
        return Movements(amount, count)
