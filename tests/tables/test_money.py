"""MRR units (tables.money): exact, and integers whenever the FX rate has at most 12
decimals, so the MRR families' sums never fall back to Fraction arithmetic."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from tables.money import MRR_SCALE, TWELFTHS_PER_INTERVAL, convert, mrr_units

CURRENCIES = st.sampled_from(["USD", "EUR", "JPY", "KWD"])
INTERVALS = st.sampled_from(sorted(TWELFTHS_PER_INTERVAL))


@given(st.integers(0, 10**15), CURRENCIES, CURRENCIES, INTERVALS, st.integers(1, 10**12))
def test_mrr_units_are_the_converted_amount_in_scaled_twelfths(
    amount: int, currency: str, reporting: str, interval: str, micros: int
) -> None:
    rate = Fraction(micros, 10**6)  # a rate of up to 6 decimals, as FX feeds publish
    got = mrr_units(amount, currency, rate, reporting, interval)
    exact = Fraction(convert(amount, currency, rate, reporting)) * TWELFTHS_PER_INTERVAL[interval]
    assert got == exact * MRR_SCALE
    assert isinstance(got, int)  # no Fraction on the hot path


@given(st.integers(1, 10**9), INTERVALS)
def test_a_rate_longer_than_the_scale_stays_exact_as_a_fraction(amount: int, interval: str) -> None:
    rate = Fraction(1, 3)  # no finite decimal: the exact Fraction fallback
    got = mrr_units(amount, "EUR", rate, "USD", interval)
    assert got == amount * rate * TWELFTHS_PER_INTERVAL[interval] * MRR_SCALE
