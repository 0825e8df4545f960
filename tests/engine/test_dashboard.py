"""The terminal dashboard: human units, targets met or not, alerts now, 80 x 24, plain text."""

from __future__ import annotations

import io

import pytest

from engine.dashboard import History, Screen, build_view, human, money, render_text, sparkline

W30 = (("window", "30d"),)
SAMPLES = [
    ("saas_mrr", (), 32799.0),
    ("saas_arpa", (), 164.0),
    ("saas_paying_customers", (), 200.0),
    ("saas_revenue", W30, 30110.5),
    ("saas_mrr_top_share", (("top", "20pct"),), 0.41),
    ("saas_customer_churn_rate", W30, 0.048),
    ("saas_net_mrr_churn_rate", W30, 0.031),
    ("saas_nrr", W30, 1.04),
    ("saas_quick_ratio", W30, 2.31),
    ("saas_active_users", (("window", "1d"),), 512.0),
    ("saas_active_users", W30, 1804.0),
    ("saas_stickiness", (), 0.284),
    ("saas_cac", W30, 2310.0),
    ("saas_runway_months", W30, 11.2),
    ("saas_nps", (("window", "90d"),), 42.0),
    ("saas_events_processed_total", (("topic", "saas.usage"),), 1000.0),
    ("saas_events_processed_total", (("topic", "saas.payments"),), 234.0),
    ("saas_asof_timestamp_seconds", (), 1_796_083_200.0),  # 2026-12-01 00:00 UTC
    ("saas_kpi_target", (("kpi", "cac"),), 2000.0),
    ("saas_kpi_target", (("kpi", "customer_churn_rate"),), 0.05),
    ("saas_kpi_target", (("kpi", "net_mrr_churn_rate"),), 0.02),
    ("saas_kpi_target", (("kpi", "runway_months"),), 12.0),
]


@pytest.mark.parametrize(
    ("value", "unit", "currency", "text"),
    [
        (32799.0, "money", "USD", "$32,799"),
        (49.5, "money", "USD", "$49.50"),
        (-1200.0, "money", "EUR", "-€1,200"),
        (12_500_000.0, "money", "GBP", "£12.5 M"),
        (1200.0, "money", "CHF", "1,200 CHF"),
        (0.048, "pct", "USD", "4.8 %"),
        (11.2, "months", "USD", "11.2 months"),
        (2.314, "ratio", "USD", "2.31x"),
        (-12.0, "nps", "USD", "-12"),
        (87.5, "points", "USD", "87.5 %"),
        (1804.0, "count", "USD", "1,804"),
        (None, "money", "USD", "—"),
    ],
)
def test_human_units(value: float | None, unit: str, currency: str, text: str) -> None:
    assert human(value, unit, currency) == text


def test_money_in_reporting_currency() -> None:
    assert money(5.0, "JPY") == "¥5.00"


def _line(view, label: str):  # type: ignore[no-untyped-def]
    return next(line for _t, lines in view.groups for line in lines if line.label == label)


def test_targets_met_or_not_and_the_alerts_that_would_fire() -> None:
    view = build_view(SAMPLES, "USD")
    assert (_line(view, "CAC").target, _line(view, "CAC").met) == ("≤ $2,000", False)
    assert (_line(view, "Customer churn").target, _line(view, "Customer churn").met) == (
        "≤ 5 %",
        True,
    )
    assert _line(view, "NRR").met is True  # NRR falls back to a 100 % target, like alerts.yml
    assert _line(view, "MRR").target == "" and _line(view, "MRR").met is None
    names = [alert.split(":")[0] for alert in view.alerts]
    assert names == ["NetMrrChurnAboveTarget", "CacAboveTarget", "RunwayBelowTarget"]


def test_groups_asof_and_counts() -> None:
    view = build_view(SAMPLES, "USD")
    titles = [title for title, _ in view.groups]
    assert titles == ["Revenue", "Retention (30d)", "Engagement", "Unit economics", "Support"]
    assert view.asof == "2026-12-01 00:00 UTC"
    assert (view.processed, view.rejected) == (1234.0, 0.0)
    assert _line(view, "MRR").value == "$32,799"
    assert _line(view, "GRR").value == "—"  # no sample: a ratio with denominator 0


def test_v2_rows_appear_only_when_exported() -> None:
    labels = {line.label for _t, lines in build_view(SAMPLES, "USD").groups for line in lines}
    assert "CSAT 30d" not in labels and "Committed MRR" not in labels
    more = [*SAMPLES, ("saas_csat", W30, 87.5), ("saas_committed_mrr", (), 30000.0)]
    view = build_view([*more, ("saas_kpi_target", (("kpi", "csat"),), 90.0)], "USD")
    assert (_line(view, "CSAT 30d").value, _line(view, "CSAT 30d").met) == ("87.5 %", False)
    assert _line(view, "Committed MRR").value == "$30,000"
    assert any(alert.startswith("CsatBelowTarget") for alert in view.alerts)


def test_sparklines_and_rejections_follow_the_history() -> None:
    history = History()
    for mrr, rejected in ((100.0, 0.0), (150.0, 0.0), (200.0, 2.0)):
        samples = [s for s in SAMPLES if s[0] not in ("saas_mrr", "saas_kpi_target")] + [
            ("saas_mrr", (), mrr),
            ("saas_events_rejected_total", (("reason", "x"),), rejected),
        ]
        view = build_view(samples, "USD", history)
    assert view.mrr_trend == "▁▅█"
    assert view.alerts[-1].startswith("EventsRejected: 2 inputs rejected")
    again = build_view(samples, "USD", history)
    assert not any(alert.startswith("EventsRejected") for alert in again.alerts)


def test_mrr_drop_within_the_hour_is_an_alert() -> None:
    history = History()
    for mrr in (1000.0, 900.0):
        view = build_view([("saas_mrr", (), mrr)], "USD", history)
    assert any(alert.startswith("MrrDrop") for alert in view.alerts)


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([1, 1, 1]) == "▁▁▁"
    assert sparkline([0, 7, 14]) == "▁▅█"
    assert sparkline(list(range(100)), width=10) == "▁▂▃▃▄▅▆▆▇█"  # all of it, averaged
    assert len(sparkline([1.0] * 240)) == 23
    assert sparkline([]) == ""


def test_fits_80_by_24_in_plain_text_with_every_v2_row() -> None:
    v2 = [
        ("saas_committed_mrr", (), 1.0),
        ("saas_signups", W30, 3.0),
        ("saas_burn_multiple", W30, 1.5),
        ("saas_csat", W30, 90.0),
        ("saas_ticket_resolution_hours", W30, 5.0),
    ]
    text = render_text([*SAMPLES, *v2], "USD", "http://127.0.0.1:8000/metrics")
    lines = text.splitlines()
    assert len(lines) <= 24, text
    assert max(len(line) for line in lines) <= 80, text
    assert "\x1b[" not in text  # plain: no colour, no cursor movement
    for word in ("Revenue", "Retention", "Engagement", "Unit economics", "Support", "Alerts now"):
        assert word in text
    assert "$32,799" in text and "4.8 %" in text and "11.2 months" in text


def test_screen_prints_plain_text_when_not_a_tty() -> None:
    out = io.StringIO()
    with Screen("USD", "http://x/metrics", stream=out) as screen:
        screen.show(SAMPLES)
        screen.show(SAMPLES)
    text = out.getvalue()
    assert text.count("as of 2026-12-01 00:00 UTC") == 2
    assert "\x1b[" not in text


def test_trend_starts_with_the_first_data() -> None:
    """A worker exports 0 before it read its backlog: that is not a fall of MRR."""
    history = History()
    for mrr in (0.0, 0.0, 100.0, 100.0, 120.0):
        view = build_view([("saas_mrr", (), mrr)], "USD", history)
    assert view.mrr_trend == "▁▁█"
