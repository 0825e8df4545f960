"""The churn family of SPEC §3 over one window: customer and revenue churn, NRR,
GRR, quick ratio — as pure functions of the window's movements.

Shared by the global KPIs and by the segments (the same formulas restricted to
the customers now in a segment).
"""

from __future__ import annotations

from tables.money import Money
from tables.movements import Movements
from tables.samples import ratio


def mrr_start(mrr: Money, w: Movements) -> Money:
    """MRR at the window start, reconstructed from the window's movements."""
    return mrr - w.net()


def customers_start(paying: int, w: Movements) -> int:
    """Paying customers at the window start: C_start of SPEC §3."""
    return paying - (w.count["new"] + w.count["reactivation"] - w.count["churn"])


def customer_churn_rate(paying: int, w: Movements) -> float | None:
    return ratio(w.count["churn"], customers_start(paying, w))


def nrr(mrr: Money, w: Movements) -> float | None:
    start = mrr_start(mrr, w)
    return ratio(start - w.lost() + w.amount["expansion"], start)


def rates(mrr: Money, paying: int, w: Movements) -> dict[str, float | None]:
    """Every churn-family gauge of SPEC §4 for one window (None: not exported)."""
    start = mrr_start(mrr, w)
    lost = w.lost()
    gained = w.amount["new"] + w.amount["expansion"] + w.amount["reactivation"]
    return {
        "saas_customer_churn_rate": customer_churn_rate(paying, w),
        "saas_gross_mrr_churn_rate": ratio(lost, start),
        "saas_net_mrr_churn_rate": ratio(
            lost - w.amount["expansion"] - w.amount["reactivation"], start
        ),
        "saas_nrr": nrr(mrr, w),
        "saas_grr": ratio(start - lost, start),
        "saas_quick_ratio": ratio(gained, lost),
    }
