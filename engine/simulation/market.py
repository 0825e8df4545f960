"""The simulated foreign-exchange market the business bills and books in.

A mean-reverting daily random walk of exchange rates, kept as USD per major
unit underneath; `rate` is the `fx.rate` quote, `convert` works in minor units
(ISO 4217 exponents from `tables.money`).
"""

from __future__ import annotations

import math
import random

from tables.money import exponent

# The simulator's own market, in USD per unit; the reporting currency must be one of these.
USD_PER_UNIT = {
    "USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CHF": 1.13,
    "CAD": 0.74, "AUD": 0.66, "SEK": 0.095, "JPY": 0.0067,
}  # fmt: skip


class FxMarket:
    """Mean-reverting daily random walk of exchange rates (USD per unit underneath)."""

    def __init__(self, rng: random.Random, reporting: str) -> None:
        self.rng, self.reporting = rng, reporting
        self.usd = dict(USD_PER_UNIT)

    def drift(self) -> None:
        """Move every rate by one day: ~0.4 % daily noise, pulled back toward its anchor."""
        for cur, anchor in USD_PER_UNIT.items():
            if cur != "USD":
                pull = 0.05 * math.log(anchor / self.usd[cur])
                self.usd[cur] *= math.exp(pull + self.rng.gauss(0, 0.004))

    def rate(self, currency: str) -> float:
        """Units of the reporting currency per major unit of `currency` (the `fx.rate` quote)."""
        return self.usd[currency] / self.usd[self.reporting]

    def convert(self, amount: float, currency: str, into: str) -> float:
        """`amount` minor units of `currency` in minor units of `into`."""
        scale: float = 10.0 ** (exponent(into) - exponent(currency))
        return amount * self.usd[currency] / self.usd[into] * scale
