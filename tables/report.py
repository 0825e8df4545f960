"""Turn the store (and the usage view) into the samples of SPEC §4.

Each KPI family yields its own samples; this module only finds the as-of time,
computes the windows every family shares (the MRR movements) and hands each
family the figures it needs from the others (ARPA, churn rate, new customers,
unique visitors). Which series exist follows SPEC §4: window sums always,
ratios only with a non-zero denominator, capped labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from tables import churn
from tables.economics import Inputs
from tables.movements import NEW, Movements
from tables.mrr import MOVEMENT_WINDOWS
from tables.samples import W30, Labels, Sample, optional
from tables.store import DAY, Store

__all__ = ["Labels", "Sample", "UsageReport", "report"]


class UsageReport(Protocol):
    """What the usage side contributes (tables.activity.UsageView)."""

    @property
    def asof(self) -> float | None: ...

    def samples(self, asof_day: int | None) -> Iterator[Sample]: ...

    def totals(self) -> tuple[int, int]: ...


def _counters(store: Store, usage: UsageReport | None, prefix: str) -> Iterator[Sample]:
    processed, duplicates = dict(store.processed), dict(store.duplicates)
    if usage is not None:
        used, repeated = usage.totals()
        if used:
            processed["usage"] = processed.get("usage", 0) + used
        if repeated:
            duplicates["usage"] = duplicates.get("usage", 0) + repeated
    for topic, count in sorted(processed.items()):
        yield "saas_events_processed_total", (("topic", prefix + topic),), float(count)
    for reason, count in sorted(store.rejected.items()):
        yield "saas_events_rejected_total", (("reason", reason),), float(count)
    for topic, count in sorted(duplicates.items()):
        yield "saas_events_duplicate_total", (("topic", prefix + topic),), float(count)


def _churn(store: Store, w30: Movements) -> tuple[list[Sample], float | None]:
    rates = churn.rates(store.mrr.total, store.mrr.paying, w30)
    samples = [s for name, value in rates.items() for s in optional(name, W30, value)]
    return samples, rates["saas_customer_churn_rate"]


def _visitors(usage_samples: list[Sample]) -> float | None:
    for name, _labels, value in usage_samples:
        if name == "saas_unique_visitors":
            return value
    return None


def report(store: Store, usage: UsageReport | None = None, prefix: str = "saas.") -> list[Sample]:
    """Every SPEC §4 sample for the current state."""
    stamps = [s for s in (store.asof, usage.asof if usage else None) if s is not None]
    asof = max(stamps) if stamps else None
    day = int(asof // DAY) if asof is not None else None
    windows = {name: store.mrr.window(day, days) for name, days in MOVEMENT_WINDOWS.items()}
    w30 = windows["30d"]
    churn_samples, churn_rate = _churn(store, w30)
    usage_samples = list(usage.samples(day)) if usage is not None else []
    given = Inputs(store.mrr.arpa(), churn_rate, w30.count[NEW], w30.net())
    samples = [
        *store.mrr.samples(windows),
        *churn_samples,
        *store.economics.samples(day, given),
        *store.funnel.samples(day, w30.count[NEW], _visitors(usage_samples)),
        *store.support.samples(day, store.mrr.paying),
        *store.satisfaction.samples(day),
        *store.concentration.samples(),
        *store.commitment.samples(store.mrr.total),
        *store.segments.samples(day, lambda names: store.economics.channel_spend(day, names)),
        *store.cohorts.samples(asof),
        *_counters(store, usage, prefix),
        ("saas_at_risk_customers", (), float(store.recency.at_risk(day))),
        *usage_samples,
    ]
    if asof is not None:
        samples.append(("saas_asof_timestamp_seconds", (), asof))
    return samples
