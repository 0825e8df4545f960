"""What every KPI family yields at scrape time: `(name, labels, value)` samples.

A sample is plain data; the Prometheus collector in `engine/` only wraps them
into metric families. Ratios are exact until the final float and give no
sample (None) when the denominator is zero — never NaN or Inf (SPEC §3).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from fractions import Fraction

from tables.money import MRR_UNITS_PER_MINOR, Money

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, Labels, float]
W30: Labels = (("window", "30d"),)


def ratio(numerator: Money, denominator: Money) -> float | None:
    """numerator / denominator, exactly, or None when the denominator is 0."""
    if not denominator:
        return None
    return float(Fraction(numerator) / Fraction(denominator))


def optional(name: str, labels: Labels, value: float | None) -> Iterator[Sample]:
    """One sample, or none when `value` is None (a ratio without denominator)."""
    if value is not None:
        yield name, labels, value


def major(minor_units: Money, minor: int) -> float:
    """Minor units of the reporting currency -> float major units."""
    return float(Fraction(minor_units) / minor)


def major_mrr(units: Money, minor: int) -> float:
    """MRR in MRR units (`tables.money`) -> float major units, rounded once."""
    return float(units / (MRR_UNITS_PER_MINOR * minor))


OTHER = "other"


def capped(values: Mapping[str, Money], cap: int) -> list[tuple[str, list[str]]]:
    """Label groups under a cap (SPEC §4): the `cap` largest values keep their name
    (ties by name), the rest are merged under "other". A name that is literally
    "other" joins the merged group, so the groups still add up to the total."""
    ranked = sorted(values, key=lambda name: (-values[name], name))
    groups = {name: [name] for name in ranked[:cap]}
    if len(ranked) > cap:
        groups[OTHER] = groups.get(OTHER, []) + ranked[cap:]
    return sorted(groups.items())
