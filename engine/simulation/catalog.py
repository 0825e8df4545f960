"""The simulated business's price list and market: plans, billing terms, countries, channels.

Pure data and two pure functions (`list_amount`, `add_periods`). The numbers
are the calibration knobs of docs/simulation.md: plan prices and churn set ARPA,
concentration and logo churn; channel CAC and churn factors set CAC, payback and
the per-channel breakdowns; country weights and currencies set the segments and
the FX mix.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Plan:
    """A price-list entry; `unit_price` is USD cents per seat (or per workspace) and month.

    `monthly_churn` is the plan's base voluntary churn per month (before the
    channel, country and engagement factors); `trial_share` the share of its
    new customers who start with a 14-day trial.
    """

    name: str
    unit_price: int
    min_seats: int
    seat_based: bool
    user_factor: float
    monthly_churn: float
    weight: float
    trial_share: float


PLANS = {
    p.name: p
    for p in (
        Plan("starter", 2400, 1, False, 0.6, 0.051, 0.40, 0.9),
        Plan("pro", 1500, 2, True, 1.0, 0.038, 0.38, 0.85),
        Plan("business", 2500, 5, True, 1.5, 0.026, 0.18, 0.6),
        Plan("enterprise", 3500, 12, True, 2.4, 0.014, 0.04, 0.0),
    )
}
PLAN_ORDER = tuple(PLANS)
INTERVAL_MONTHS = {"week": 12 / 52, "month": 1.0, "quarter": 3.0, "year": 12.0}
INTERVAL_PRICE = {"week": 1.15, "month": 1.0, "quarter": 0.95, "year": 0.83}
PERIOD_DAYS = {"week": 7, "month": 30, "quarter": 91, "year": 365}
PRICE_BOOK = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}  # local list price per USD list price


@dataclass(frozen=True)
class Country:
    """Where customers come from: ISO 3166-1 code, share, billing currency, churn factor."""

    code: str
    weight: float
    currency: str
    churn: float


COUNTRIES = tuple(
    Country(code, weight, currency, churn)
    for code, weight, currency, churn in (
        ("US", 38, "USD", 1.0), ("GB", 10, "GBP", 0.95), ("DE", 9, "EUR", 0.85),
        ("CA", 6, "USD", 1.0), ("FR", 5, "EUR", 0.95), ("AU", 4, "USD", 1.05),
        ("NL", 4, "EUR", 0.9), ("IN", 4, "USD", 1.45), ("BR", 3, "USD", 1.4),
        ("ES", 3, "EUR", 1.1), ("SE", 3, "EUR", 0.85), ("IE", 2, "EUR", 0.95),
        ("CH", 2, "EUR", 0.8), ("JP", 2, "USD", 0.8), ("PL", 2, "EUR", 1.15),
        ("SG", 1, "USD", 1.0), ("MX", 1, "USD", 1.35), ("ZA", 1, "USD", 1.3),
    )
)  # fmt: skip
NO_COUNTRY_SHARE = 0.03  # customers whose billing address never told us a country


@dataclass(frozen=True)
class Channel:
    """An acquisition channel: share of new customers, cost to acquire one, churn factor.

    `cac` is USD cents of spend per new paying customer; `category` is where
    that spend is booked (`marketing` or `sales`); `plan_tilt` multiplies the
    weight of the larger plans (outbound sales sells bigger deals).
    """

    name: str
    weight: float
    cac: int
    churn: float
    category: str
    plan_tilt: float


CHANNELS = {
    c.name: c
    for c in (
        Channel("organic", 30, 40_000, 0.9, "marketing", 1.0),
        Channel("paid_search", 24, 125_000, 1.2, "marketing", 1.0),
        Channel("social", 12, 100_000, 1.35, "marketing", 0.8),
        Channel("referral", 13, 35_000, 0.7, "marketing", 1.1),
        Channel("outbound", 13, 250_000, 0.8, "sales", 1.8),
        Channel("partner", 8, 150_000, 0.85, "sales", 1.4),
    )
}
CHANNEL_ORDER = tuple(CHANNELS)


def list_amount(plan: str, quantity: int, interval: str, currency: str, discount: float) -> int:
    """Recurring charge per interval in minor units: seats x local unit price, after discount."""
    unit = round(PLANS[plan].unit_price * PRICE_BOOK[currency] / 100) * 100
    seats = quantity if PLANS[plan].seat_based else 1
    months = INTERVAL_MONTHS[interval] * INTERVAL_PRICE[interval]
    return round(unit * seats * months * (1 - discount))


def add_periods(start: date, anchor: int, interval: str, periods: int) -> int:
    """Day index of the `periods`-th billing date after day `anchor` (calendar months)."""
    if interval == "week":
        return anchor + 7 * periods
    months = {"month": 1, "quarter": 3, "year": 12}[interval] * periods
    first = start + timedelta(days=anchor)
    year, month0 = divmod(first.month - 1 + months, 12)
    day = min(first.day, monthrange(first.year + year, month0 + 1)[1])
    return (date(first.year + year, month0 + 1, day) - start).days
