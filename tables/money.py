"""Money arithmetic: monthly normalisation and currency conversion, exact.

Amounts stay integers (or, after an FX conversion, fractions) of minor units of
the reporting currency until a gauge turns them into floats of major units.
MRR is kept in *twelfths* of a minor unit so that every interval normalises to
an integer: day ×365/12, week ×52/12, month ×1, quarter ÷3, year ÷12.
"""

from __future__ import annotations

from fractions import Fraction

Money = int | Fraction

TWELFTHS_PER_INTERVAL: dict[str, int] = {
    "day": 365,
    "week": 52,
    "month": 12,
    "quarter": 4,
    "year": 1,
}

_ZERO_DECIMALS = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split()  # noqa: SIM905
)
_THREE_DECIMALS = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])


def exponent(currency: str) -> int:
    """ISO 4217 minor-unit exponent (2 unless listed)."""
    if currency in _ZERO_DECIMALS:
        return 0
    return 3 if currency in _THREE_DECIMALS else 2


def mrr_twelfths(amount: Money, interval: str) -> Money:
    """Monthly recurring revenue of `amount` per `interval`, in twelfths of a minor unit."""
    return amount * TWELFTHS_PER_INTERVAL[interval]


def convert(amount: int, currency: str, rate: Fraction, reporting: str) -> Money:
    """`amount` minor units of `currency` in minor units of `reporting` (rate per major unit)."""
    if currency == reporting:
        return amount
    value = Fraction(amount * 10 ** exponent(reporting), 10 ** exponent(currency)) * rate
    return value.numerator if value.denominator == 1 else value
