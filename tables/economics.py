"""Unit economics (SPEC §3, §3.1): revenue, spend, gross margin, burn, runway, LTV,
CAC, LTV:CAC, CAC payback, burn multiple, and acquisition spend per channel.

Payments and spend are booked per day in minor units of the reporting currency
(converted by the store at the event's own `ts`); the latest cash balance is
kept by `ts` (ties: applied last). The formulas take the figures other
families own (ARPA, churn rate, new customers, net new MRR) as arguments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from events import types as t
from tables.ledger import Ledger
from tables.money import MRR_SCALE, Money
from tables.samples import W30, Sample, major, optional, ratio

SUCCEEDED, REFUNDED, FAILED = "payment.succeeded", "payment.refunded", "payment.failed"
CATEGORIES = ("sales", "marketing", "cogs", "opex")
ACQUISITION = frozenset({"sales", "marketing"})
KEYS = (SUCCEEDED, REFUNDED, FAILED, *CATEGORIES)


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the other families contribute: ARPA (major units), the 30-day customer
    churn rate, #new movements and net new MRR (MRR units) in the window."""

    arpa: float | None
    churn_rate: float | None
    new_customers: int
    net_new_mrr: Money


class Economics:
    def __init__(self, minor: int) -> None:
        self.minor = minor
        self._days = Ledger()
        self._channels = Ledger()  # sales + marketing spend per channel
        self.cash: tuple[float, Money] | None = None  # (ts, amount) of the latest balance

    def book_payment(self, event: t.Event, amount: Money) -> None:
        self._days.add(event.day, event.type, amount)

    def book_spend(self, event: t.Spend, amount: Money) -> None:
        self._days.add(event.day, event.category, amount)
        if event.channel is not None and event.category in ACQUISITION:
            self._channels.add(event.day, event.channel, amount)

    def book_cash(self, event: t.Event, amount: Money) -> None:
        if self.cash is None or event.ts >= self.cash[0]:
            self.cash = (event.ts, amount)

    def channel_spend(self, asof_day: int | None, channels: list[str]) -> Money:
        """Acquisition spend in the 30-day window carrying any of `channels`."""
        return sum(self._channels.window(asof_day, 30, channels).values(), start=0)

    def samples(self, asof_day: int | None, given: Inputs) -> Iterator[Sample]:
        w = self._days.window(asof_day, 30, KEYS)
        revenue = w[SUCCEEDED] - w[REFUNDED]
        burn = sum((w[c] for c in CATEGORIES), start=0) - revenue
        margin = ratio(revenue - w["cogs"], revenue)
        yield "saas_revenue", W30, major(revenue, self.minor)
        yield from optional("saas_gross_margin", W30, margin)
        yield "saas_burn", W30, major(burn, self.minor)
        yield from self._unit_economics(w, 1.0 if margin is None else margin, given)
        yield from optional("saas_runway_months", W30, self._runway(burn))
        yield from optional("saas_burn_multiple", W30, self._burn_multiple(burn, given))

    def _unit_economics(
        self, w: dict[str, Money], margin: float, given: Inputs
    ) -> Iterator[Sample]:
        ltv = None
        if given.arpa is not None and given.churn_rate:
            ltv = given.arpa * margin / given.churn_rate
        acquisition = Fraction(w["sales"] + w["marketing"]) / self.minor
        cac = ratio(acquisition, given.new_customers)
        payback = None
        if cac is not None and given.arpa is not None and given.arpa * margin:
            payback = cac / (given.arpa * margin)
        yield from optional("saas_ltv", W30, ltv)
        yield from optional("saas_cac", W30, cac)
        yield from optional(
            "saas_ltv_cac_ratio", W30, ltv / cac if ltv is not None and cac else None
        )
        yield from optional("saas_cac_payback_months", W30, payback)

    def _runway(self, burn: Money) -> float | None:
        if self.cash is None or burn <= 0:
            return None
        return float(Fraction(self.cash[1]) / burn)

    def _burn_multiple(self, burn: Money, given: Inputs) -> float | None:
        """burn / (12 × net new MRR); net new MRR is in MRR units (`tables.money`)."""
        if burn <= 0 or given.net_new_mrr <= 0:
            return None
        return float(Fraction(burn * MRR_SCALE) / Fraction(given.net_new_mrr))
