"""The simulated business's accounts: customers, their users and their subscriptions.

Plain mutable records that `world.World` drives day by day; what a customer
is (country, channel, engagement, users) decides how likely it is to use the
product, write to support, pay late or leave.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from engine.simulation.catalog import CHANNELS, PERIOD_DAYS, PRICE_BOOK, Country, list_amount

LIVE = ("trial", "active", "paused")


@dataclass
class Subscription:
    """One subscription's mutable state; `periods` counts billing dates since `anchor`."""

    id: str
    plan: str
    interval: str
    quantity: int
    currency: str
    discount: float
    state: str = "active"
    anchor: int = 0
    periods: int = 0
    until: int = 0  # trial end or pause end
    converts: bool = False
    retry_day: int = -1
    failures: int = 0
    invoice: str = ""
    cancel_day: int = -1  # a scheduled cancellation (cancel_at_period_end) takes effect
    withdraw_day: int = -1  # ... or is withdrawn on this day
    reason: str = ""

    @property
    def amount(self) -> int:
        return list_amount(self.plan, self.quantity, self.interval, self.currency, self.discount)

    @property
    def usd_mrr(self) -> float:
        """Monthly list value in USD cents (for the simulated company's own books)."""
        if self.state != "active":
            return 0.0
        months = PERIOD_DAYS[self.interval] / 30
        return self.amount / PRICE_BOOK[self.currency] / max(months, 0.23)


@dataclass
class Customer:
    """A customer: where it came from, its users' activity, engagement and subscriptions."""

    id: str
    country: Country | None
    channel: str
    currency: str
    engagement: float
    pay_risk: float
    users: list[float]
    subs: list[Subscription] = field(default_factory=list)
    ever_paid: bool = False
    left_day: int = -1

    def live(self) -> list[Subscription]:
        """Subscriptions in trial, active or paused."""
        return [s for s in self.subs if s.state in LIVE]

    def paying(self) -> bool:
        return any(s.state == "active" for s in self.subs)

    def user_id(self, n: int) -> str:
        return f"u-{self.id}-{n + 1}"

    @property
    def churn_factor(self) -> float:
        """How much more (or less) likely than average this customer is to cancel."""
        country = self.country.churn if self.country else 1.0
        return (0.3 + 1.8 * (1 - self.engagement)) * CHANNELS[self.channel].churn * country


def user_propensity(rng: random.Random) -> float:
    """A user's daily chance of using the product: a few power users, many occasional ones."""
    kind = rng.random()
    if kind < 0.15:
        return rng.uniform(0.55, 0.85)
    return rng.uniform(0.15, 0.35) if kind < 0.5 else rng.uniform(0.02, 0.08)
