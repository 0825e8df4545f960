"""The KPI formulas of SPEC §3, as pure functions of window sums and current totals.

Inputs are exact (int/Fraction); each function returns floats, or None where a
denominator is zero — None means "no sample", never NaN or Inf.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from tables.money import Money

KINDS = ("new", "expansion", "contraction", "churn", "reactivation", "involuntary_churn")


def ratio(numerator: Money, denominator: Money) -> float | None:
    if not denominator:
        return None
    return float(Fraction(numerator) / Fraction(denominator))


def mrr_start(mrr: Money, w: Mapping[str, Money]) -> Money:
    """MRR at the window start, reconstructed from the window's movements."""
    net = (
        w["mv.new"] + w["mv.reactivation"] + w["mv.expansion"] - w["mv.contraction"] - w["mv.churn"]
    )
    return mrr - net


def customers_start(paying: int, w: Mapping[str, Money]) -> Money:
    return paying - (w["n.new"] + w["n.reactivation"] - w["n.churn"])


def churn_family(mrr: Money, paying: int, w: Mapping[str, Money]) -> dict[str, float | None]:
    """Customer/revenue churn rates, NRR, GRR and quick ratio over one window."""
    start = mrr_start(mrr, w)
    lost = w["mv.churn"] + w["mv.contraction"]
    return {
        "saas_customer_churn_rate": ratio(w["n.churn"], customers_start(paying, w)),
        "saas_gross_mrr_churn_rate": ratio(lost, start),
        "saas_net_mrr_churn_rate": ratio(lost - w["mv.expansion"] - w["mv.reactivation"], start),
        "saas_nrr": ratio(start - lost + w["mv.expansion"], start),
        "saas_grr": ratio(start - lost, start),
        "saas_quick_ratio": ratio(w["mv.new"] + w["mv.expansion"] + w["mv.reactivation"], lost),
    }


def unit_economics(
    arpa: float | None, churn_rate: float | None, w: Mapping[str, Money], minor: int
) -> dict[str, float | None]:
    """Revenue, margin, LTV, CAC, payback, burn (30-day window); money in major units."""
    revenue = w["rev.succeeded"] - w["rev.refunded"]
    spend = w["spend.sales"] + w["spend.marketing"] + w["spend.cogs"] + w["spend.opex"]
    margin = ratio(revenue - w["spend.cogs"], revenue)
    effective_margin = 1.0 if margin is None else margin
    ltv = None
    if arpa is not None and churn_rate:
        ltv = arpa * effective_margin / churn_rate
    cac = ratio(Fraction(w["spend.sales"] + w["spend.marketing"]) / minor, w["n.new"])
    payback = None
    if cac is not None and arpa is not None and arpa * effective_margin:
        payback = cac / (arpa * effective_margin)
    return {
        "saas_revenue": float(Fraction(revenue) / minor),
        "saas_gross_margin": margin,
        "saas_burn": float(Fraction(spend - revenue) / minor),
        "saas_ltv": ltv,
        "saas_cac": cac,
        "saas_ltv_cac_ratio": ltv / cac if ltv is not None and cac else None,
        "saas_cac_payback_months": payback,
    }


def runway(cash_minor: Money | None, burn: float, minor: int) -> float | None:
    if cash_minor is None or burn <= 0:
        return None
    return float(Fraction(cash_minor) / minor) / burn


def nps(w: Mapping[str, Money]) -> float | None:
    return ratio(100 * (w["nps.promoter"] - w["nps.detractor"]), w["nps.n"])
