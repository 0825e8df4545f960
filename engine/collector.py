"""Prometheus export at scrape time: a custom Collector over the report samples."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from tables.report import Sample

HELP = {
    "saas_mrr": "Monthly recurring revenue (reporting currency, major units)",
    "saas_arr": "Annual recurring revenue = 12 x MRR",
    "saas_arpa": "Average revenue per paying account (MRR / paying customers)",
    "saas_plan_mrr": "MRR per plan (plans with MRR > 0)",
    "saas_paying_customers": "Customers with MRR > 0",
    "saas_plan_customers": "Paying customers per plan",
    "saas_mrr_movement": "MRR movement amounts in the window ending at the as-of day",
    "saas_mrr_movement_total": "MRR movement amounts since the start of history",
    "saas_events_processed_total": "Events applied, per topic (duplicates and rejects excluded)",
    "saas_events_rejected_total": "Inputs rejected, per reason",
    "saas_events_duplicate_total": "Events ignored because their event_id was already applied",
    "saas_asof_timestamp_seconds": "As-of time T: the largest event ts applied",
    "saas_kpi_target": "Configured KPI targets (see docs/targets.md)",
}


class KpiCollector(Collector):
    """Reads the engine's state when Prometheus scrapes; never labels by customer or user."""

    def __init__(
        self, source: Callable[[], list[Sample]], registry: CollectorRegistry | None = None
    ):
        self._source = source
        if registry is not None:
            registry.register(self)

    def describe(self) -> list[Metric]:
        return []  # samples depend on the data; do not call collect() at registration

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for name, labels, value in self._source():
            family = families.get(name)
            if family is None:
                family = families[name] = _family(name, [k for k, _ in labels])
            family.add_metric([v for _, v in labels], value)
        yield from families.values()


def _family(name: str, label_names: list[str]) -> Metric:
    doc = HELP.get(name, name.removeprefix("saas_").replace("_", " "))
    if name.endswith("_total"):
        return CounterMetricFamily(name.removesuffix("_total"), doc, labels=label_names)
    return GaugeMetricFamily(name, doc, labels=label_names)
