"""Money arithmetic: monthly normalisation and currency conversion, exact.

Amounts stay integers (or, after an FX conversion, fractions) of minor units of
the reporting currency until a gauge turns them into floats of major units.
MRR is kept in *MRR units*: twelfths of a minor unit (every interval then
normalises to an integer: day ×365/12, week ×52/12, month ×1, quarter ÷3,
year ÷12) times `MRR_SCALE`. FX rates arrive as JSON decimals, so an amount
converted at a rate of up to 12 decimals is still an integer number of MRR
units, and the sums of every MRR family stay integer arithmetic; a longer
rate falls back to an exact `Fraction` (Fraction sums cost 3× the whole
`Store.apply`, docs/performance.md).
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


MRR_SCALE = 10**12
MRR_UNITS_PER_MINOR = 12 * MRR_SCALE  # MRR units in one minor unit per month


def mrr_units(amount: int, currency: str, rate: Fraction, reporting: str, interval: str) -> Money:
    """Monthly recurring revenue of `amount` minor units of `currency` per `interval`,
    in MRR units of `reporting` (rate per major unit, as `convert`)."""
    return convert(amount * TWELFTHS_PER_INTERVAL[interval] * MRR_SCALE, currency, rate, reporting)


def convert(amount: int, currency: str, rate: Fraction, reporting: str) -> Money:
    """`amount` minor units of `currency` in minor units of `reporting` (rate per major unit)."""
    if currency == reporting:
        return amount
    value = Fraction(amount * 10 ** exponent(reporting), 10 ** exponent(currency)) * rate
    return value.numerator if value.denominator == 1 else value
