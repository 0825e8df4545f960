"""The scrape-time collector: names, types and labels exactly as exported."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from engine.collector import HELP, KpiCollector
from engine.dashboard import render_text
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


def test_dashboard_text_shows_the_report() -> None:
    store = Store()
    store.apply(started("c1", "s1", 4900), "subscriptions")
    text = render_text(report(store), "USD")
    assert "MRR" in text and "$49.00" in text


# Every metric of the contract (v1 and v2), as a newcomer reads it on /metrics: the
# copy of SPEC §4 that tests/integration/test_dashboards.py keeps in step with SPEC,
# plus the engine's documented extras.
METRICS_TXT = Path(__file__).resolve().parents[2] / "docs" / "metrics.txt"
CONTRACT = [
    *(
        line.strip()
        for line in METRICS_TXT.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ),
    "saas_events_duplicate_total",
    "saas_kpi_target",
]
UNITS = ("currency", "count", "ratio", "months", "hours", "0-1", "percent", "seconds", "-100..100")


def test_every_metric_has_help_with_its_unit() -> None:
    missing = [name for name in CONTRACT if name not in HELP]
    assert not missing
    unitless = [name for name in CONTRACT if not any(unit in HELP[name] for unit in UNITS)]
    assert not unitless, unitless
    for name in ("saas_nrr", "saas_csat", "saas_asof_timestamp_seconds"):
        registry = CollectorRegistry()
        KpiCollector(lambda n=name: [(n, (), 1.0)], registry)
        text = generate_latest(registry).decode()
        assert f"# HELP {name} {HELP[name]}" in text
        assert f"# HELP {name} {name.removeprefix('saas_')}\n" not in text


def test_every_exported_metric_has_help() -> None:
    """A store with live v1 and v2 KPIs: no metric falls back to its bare name."""
    from tests.events.test_corpus import _seeded

    names = {name for name, _labels, _value in report(_seeded())}
    assert len(names) > 40
    assert sorted(names - HELP.keys()) == []
