"""The receiver's own Prometheus series, exported at scrape time from plain counts.

A custom collector over dicts (rather than `prometheus_client.Counter`) keeps
the exposition to the `_total` samples, without a `_created` series per label
set. Labels never carry an id: Stripe event types, outcomes, reasons and HTTP
status codes only (docs/stripe.md lists every series).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

# name (without _total) -> (help, label names)
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "saas_stripe_events": (
        "Stripe events the webhook answered, by Stripe type and outcome "
        "(applied, ignored, stale, duplicate, rejected)",
        ("type", "outcome"),
    ),
    "saas_stripe_rejected": (
        "Stripe deliveries answered 400, or translations the mapping rejected, by reason",
        ("reason",),
    ),
    "saas_stripe_webhook_requests": ("Requests to POST /stripe/webhook by HTTP status", ("code",)),
    "saas_collector_events": (
        "Events posted to POST /events, by outcome (accepted, rejected)",
        ("outcome",),
    ),
    "saas_collector_rejected": (
        "Events posted to POST /events and rejected, by reason",
        ("reason",),
    ),
    "saas_collector_requests": ("Requests to POST /events by HTTP status", ("code",)),
}


class Telemetry(Collector):
    """Counts by family and label values; registered on `registry` when given."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.counts: dict[str, Counter[tuple[str, ...]]] = {name: Counter() for name in FAMILIES}
        for outcome in ("accepted", "rejected"):  # both exist from the start, zeros included
            self.counts["saas_collector_events"][(outcome,)] = 0
        if registry is not None:
            registry.register(self)

    def inc(self, family: str, *labels: str, by: int = 1) -> None:
        self.counts[family][labels] += by

    def value(self, family: str, *labels: str) -> int:
        return self.counts[family][labels]

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, (text, label_names) in FAMILIES.items():
            family = CounterMetricFamily(name, text, labels=label_names)
            for labels, count in sorted(self.counts[name].items()):
                family.add_metric(list(labels), count)
            yield family
