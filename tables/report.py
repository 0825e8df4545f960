"""Turn the store (and the usage view) into the samples of SPEC §4.

A sample is `(name, labels, value)`; the Prometheus collector in `engine/`
only wraps them into metric families. Which series exist follows SPEC §4:
window sums always, ratios only with a non-zero denominator, plans only with
MRR > 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from tables import kpis
from tables.ledger import WINDOWS
from tables.money import Money
from tables.store import DAY, Store

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, Labels, float]
MOVEMENT_WINDOWS = ("1d", "7d", "30d", "90d")
W30 = (("window", "30d"),)
LEDGER_KEYS = (
    *(f"mv.{k}" for k in kpis.KINDS),
    *(f"n.{k}" for k in kpis.KINDS),
    "rev.succeeded",
    "rev.refunded",
    "spend.sales",
    "spend.marketing",
    "spend.cogs",
    "spend.opex",
    "leads",
    "tickets",
    "trials",
    "conversions",
    "trials_ended",
    "nps.n",
    "nps.promoter",
    "nps.detractor",
)


class UsageReport(Protocol):
    """What the usage side contributes (tables.activity.UsageView)."""

    asof: float | None

    def samples(self, asof_day: int | None) -> Iterator[Sample]: ...

    def totals(self) -> tuple[int, int]: ...


def _money(store: Store, twelfths: Money) -> float:
    return float(twelfths) / 12.0 / float(store.minor)


def _windows(store: Store, asof_day: int | None) -> dict[str, dict[str, Money]]:
    return {
        name: store.ledger.window(asof_day, days, LEDGER_KEYS) for name, days in WINDOWS.items()
    }


def _revenue_samples(store: Store, arpa: float | None) -> Iterator[Sample]:
    yield "saas_mrr", (), _money(store, store.mrr)
    yield "saas_arr", (), 12 * _money(store, store.mrr)
    yield "saas_paying_customers", (), float(store.paying)
    if arpa is not None:
        yield "saas_arpa", (), arpa
    for plan, mrr in sorted(store.plan_mrr.items()):
        if mrr > 0:
            yield "saas_plan_mrr", (("plan", plan),), _money(store, mrr)
            yield "saas_plan_customers", (("plan", plan),), float(store.plan_customers[plan])


def _movement_samples(store: Store, windows: dict[str, dict[str, Money]]) -> Iterator[Sample]:
    for kind in kpis.KINDS:
        total = store.movement_totals.get(kind, 0)
        yield "saas_mrr_movement_total", (("kind", kind),), _money(store, total)
        for window in MOVEMENT_WINDOWS:
            value = windows[window][f"mv.{kind}"]
            yield "saas_mrr_movement", (("kind", kind), ("window", window)), _money(store, value)


def _optional(name: str, labels: Labels, value: float | None) -> Iterator[Sample]:
    if value is not None:
        yield name, labels, value


def _economics(
    store: Store, w: dict[str, Money], w90: dict[str, Money], arpa: float | None
) -> Iterator[Sample]:
    churn = kpis.churn_family(store.mrr, store.paying, w)
    for name, value in churn.items():
        yield from _optional(name, W30, value)
    econ = kpis.unit_economics(arpa, churn["saas_customer_churn_rate"], w, store.minor)
    for name, value in econ.items():
        yield from _optional(name, W30, value)
    cash = store.cash[2] if store.cash else None
    yield from _optional(
        "saas_runway_months", W30, kpis.runway(cash, econ["saas_burn"] or 0.0, store.minor)
    )
    yield "saas_trials_started", W30, float(w["trials"])
    yield from _optional(
        "saas_trial_conversion_rate",
        W30,
        kpis.ratio(w["conversions"], w["conversions"] + w["trials_ended"]),
    )
    yield "saas_leads", W30, float(w["leads"])
    yield from _optional("saas_lead_conversion_rate", W30, kpis.ratio(w["n.new"], w["leads"]))
    yield from _optional("saas_tickets_per_customer", W30, kpis.ratio(w["tickets"], store.paying))
    yield from _optional("saas_nps", (("window", "90d"),), kpis.nps(w90))


def _concentration(store: Store) -> Iterator[Sample]:
    conc = store.concentration
    yield from _optional(
        "saas_mrr_top_share", (("top", "20pct"),), conc.top_share(conc.top_percent_count(20))
    )
    yield from _optional("saas_mrr_top_share", (("top", "10"),), conc.top_share(10))
    yield from _optional("saas_mrr_hhi", (), conc.hhi())


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


def report(store: Store, usage: UsageReport | None = None, prefix: str = "saas.") -> list[Sample]:
    """Every SPEC §4 sample for the current state."""
    stamps = [s for s in (store.asof, usage.asof if usage else None) if s is not None]
    asof = max(stamps) if stamps else None
    asof_day = int(asof // DAY) if asof is not None else None
    windows = _windows(store, asof_day)
    arpa = kpis.ratio(store.mrr, store.paying * 12 * store.minor)
    samples = [
        *_revenue_samples(store, arpa),
        *_movement_samples(store, windows),
        *_economics(store, windows["30d"], windows["90d"], arpa),
        *_concentration(store),
        *_counters(store, usage, prefix),
        ("saas_at_risk_customers", (), float(store.at_risk(asof_day))),
    ]
    if usage is not None:
        samples.extend(usage.samples(asof_day))
    if asof is not None:
        samples.append(("saas_asof_timestamp_seconds", (), asof))
    return samples
