"""The scrape-time collector: names, types and labels exactly as exported."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from engine.collector import KpiCollector
from engine.snapshot import format_table
from tables.report import report
from tables.store import Store
from tests.tables.helpers import started


def test_collector_exports_report_samples_with_types() -> None:
    store = Store()
    store.apply(started("c1", "s1", 12000, interval="year", plan="pro"), "subscriptions")
    registry = CollectorRegistry()
    KpiCollector(lambda: report(store), registry)
    assert registry.get_sample_value("saas_mrr") == 10.0
    assert registry.get_sample_value("saas_plan_mrr", {"plan": "pro"}) == 10.0
    assert registry.get_sample_value("saas_mrr_movement_total", {"kind": "new"}) == 10.0
    assert (
        registry.get_sample_value("saas_events_processed_total", {"topic": "saas.subscriptions"})
        == 1.0
    )
    text = generate_latest(registry).decode()
    assert "# TYPE saas_mrr_movement_total counter" in text
    assert "# TYPE saas_mrr gauge" in text
    assert "c1" not in text  # never a customer id in a label


def test_table_lists_main_kpis() -> None:
    store = Store()
    store.apply(started("c1", "s1", 4900), "subscriptions")
    table = format_table(report(store))
    assert "saas_mrr" in table and "49.0000" in table
