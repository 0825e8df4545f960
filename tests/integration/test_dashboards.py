"""The Grafana dashboards and the alert rules against the metric contract.

- every dashboard parses, has a uid and a title, a clean grid, and panels that
  name the Prometheus datasource by uid, carry a query, a unit and decimals;
- every metric name in a panel query or an alert expression is a SPEC §4 name
  (../shared/SPEC.md, falling back to docs/metrics.txt), one of the two engine
  extras, or a Prometheus built-in; every SPEC metric is on some dashboard;
- every query collapses the workers with `max without (instance, pod)` before
  anything else drops the `instance` label (never `sum` across workers);
- a real Prometheus (tests/integration/prometheus.py) loads alerts.yml, scrapes
  itself, evaluates every rule without error and runs every panel and annotation
  query; the executive dashboard marks firing alerts; the segments dashboard
  breaks every segment KPI down by country and channel and draws the cohort
  triangles with cohorts as rows and ages as columns.

`panel_queries()` is also the entry point of the end-to-end test that runs the
same queries against a Prometheus scraping the engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.prometheus import Prometheus

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "grafana" / "dashboards"
ALERTS = REPO / "prometheus" / "alerts.yml"
OPERATIONS = REPO / "docs" / "operations.md"
SPEC = REPO / ".." / "shared" / "SPEC.md"
METRICS_COPY = REPO / "docs" / "metrics.txt"
DATASOURCE_UID = "prometheus"

# Beyond SPEC §4 (docs/definitions.md): duplicates per topic, configured KPI targets.
EXTRA_METRICS = {"saas_events_duplicate_total", "saas_kpi_target"}
# The Stripe receiver's own series (docs/stripe.md "Receiver metrics"), engine-health row.
EXTRA_METRICS |= {
    "saas_stripe_events_total", "saas_stripe_rejected_total", "saas_stripe_webhook_requests_total",
    "saas_collector_events_total", "saas_collector_rejected_total", "saas_collector_requests_total",
}  # fmt: skip
# The engine's own health (docs/operations.md#factsnotapplied): per worker, never a KPI.
EXTRA_METRICS |= {"streamkpi_reader_records_total"}
BUILTIN_METRICS = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS"}
TARGET_KPIS = {
    "customer_churn_rate", "net_mrr_churn_rate", "nrr", "mrr_top_share_20pct",
    "cac", "quick_ratio", "gross_margin", "runway_months",
    "csat", "ticket_resolution_hours", "burn_multiple",  # v2
}  # fmt: skip
# What Grafana's variables stand for when a query runs outside Grafana.
VARIABLES = {"feature": ".*", "__rate_interval": "1m", "__interval": "15s", "__range": "1h"}

pytestmark = pytest.mark.integration


# -- the contract ---------------------------------------------------------------


def spec_metrics_from(text: str) -> list[str]:
    """Metric names in the tables of SPEC.md §4 (any column: `saas_plan_mrr{plan}` too)."""
    section = text[text.index("## 4.") :]
    end = section.find("\n## ", 1)
    rows = [
        line for line in section[: end if end > 0 else None].splitlines() if line.startswith("|")
    ]
    names: list[str] = []
    for row in rows:
        for name in re.findall(r"`(saas_[a-z0-9_]+)(?:\{[^`]*\})?`", row):
            if name not in names:
                names.append(name)
    return names


def spec_metrics() -> set[str]:
    if SPEC.is_file():
        return set(spec_metrics_from(SPEC.read_text()))
    lines = METRICS_COPY.read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


# -- dashboards -----------------------------------------------------------------


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def substitute(expr: str) -> str:
    """Replace Grafana variables ($x, ${x}, ${x:format}) with values Prometheus accepts."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in VARIABLES:
            raise ValueError(f"unknown Grafana variable ${name} in {expr!r}")
        return VARIABLES[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard title, panel title, PromQL with variables substituted) for every query."""
    return [
        (dash["title"], panel["title"], substitute(target["expr"]))
        for dash in dashboards().values()
        for panel in dash["panels"]
        for target in panel.get("targets", [])
    ]


def annotation_queries() -> list[tuple[str, str, str]]:
    """(dashboard title, annotation name, PromQL) for every Prometheus annotation query."""
    return [
        (dash["title"], note["name"], substitute(note["expr"]))
        for dash in dashboards().values()
        for note in dash.get("annotations", {}).get("list", [])
        if note.get("datasource", {}).get("type") == "prometheus"
    ]


# -- PromQL, just enough to find metric names and aggregations -------------------

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "atan2", "inf", "nan",
}  # fmt: skip
AGGREGATORS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile",
}  # fmt: skip
LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
IDENTIFIER = re.compile(r"(?<![\w.:$])[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()")


def blank(expr: str) -> str:
    """Same length, with strings, label matchers and ranges turned into spaces."""
    expr = re.sub(
        r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', lambda m: " " * len(m[0]), expr
    )
    return re.sub(r"\{[^}]*\}|\[[^\]]*\]", lambda m: " " * len(m[0]), expr)


def metric_occurrences(expr: str) -> Iterator[tuple[int, str]]:
    """(position, name) of every metric selector in expr."""
    text = LABEL_LIST.sub(lambda m: " " * len(m[0]), blank(expr))
    for match in IDENTIFIER.finditer(text):
        if match[0] not in KEYWORDS:
            yield match.start(), match[0]


def metric_names(expr: str) -> set[str]:
    return {name for _, name in metric_occurrences(expr)}


def enclosing_aggregations(expr: str, pos: int) -> Iterator[tuple[str, str | None, set[str]]]:
    """(aggregator, "by"/"without"/None, labels) around position pos, innermost first."""
    text, depth = blank(expr), 0
    for i in range(pos - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(" and depth:
            depth -= 1
        elif text[i] == "(":
            before = text[:i]
            clause = re.search(r"(\w+)\s*(by|without)\s*\(([^()]*)\)\s*$", before)
            if clause:
                yield clause[1], clause[2], set(re.findall(r"\w+", clause[3]))
                continue
            name = re.search(r"(\w+)\s*$", before)
            if name and name[1] in AGGREGATORS:
                after = re.match(r"\s*(by|without)\s*\(([^()]*)\)", text[_closing(text, i) + 1 :])
                labels = set(re.findall(r"\w+", after[2])) if after else set()
                yield name[1], after[1] if after else None, labels


def _closing(text: str, open_index: int) -> int:
    depth = 0
    for i in range(open_index, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError(f"unbalanced parentheses in {text!r}")


def worker_collapse_errors(expr: str) -> list[str]:
    """Why each saas_ series in expr is not collapsed with max/min without (instance, pod)."""
    errors = []
    for pos, name in metric_occurrences(expr):
        if not name.startswith("saas_"):
            continue
        for agg, clause, labels in enclosing_aggregations(expr, pos):
            drops_instance = (
                clause is None
                or (clause == "by" and "instance" not in labels)
                or (clause == "without" and "instance" in labels)
            )
            if not drops_instance:
                continue
            if not (
                agg in ("max", "min") and clause == "without" and {"instance", "pod"} <= labels
            ):
                errors.append(
                    f"{name}: first aggregation across workers is {agg} {clause} {labels}"
                )
            break
        else:
            errors.append(f"{name}: never collapsed across workers")
    return errors


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# -- a real Prometheus ----------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus() -> Iterator[Prometheus]:
    with Prometheus(rule_files=[ALERTS], scrape_self=True) as prom:
        yield prom


def test_helper_runs_a_real_prometheus_scraping_itself(prometheus: Prometheus) -> None:
    result = prometheus.wait_for('up{job="prometheus"} == 1')
    assert result[0]["metric"]["instance"] == f"127.0.0.1:{prometheus.port}"
    assert prometheus.value('up{job="prometheus"}') == 1.0
    assert prometheus.query("vector(1) == 2") == []


def test_helper_reports_alerts(prometheus: Prometheus) -> None:
    """With no worker target at all, NoWorker goes pending (for: 1m) at the first evaluation."""
    prometheus.wait_for('ALERTS{alertname="NoWorker"}')
    alerts = {a["labels"]["alertname"]: a for a in prometheus.alerts()}
    assert set(alerts) == {"NoWorker"}
    assert alerts["NoWorker"]["state"] in ("pending", "firing")
    assert alerts["NoWorker"]["labels"]["severity"] == "critical"


def test_helper_stops_its_process() -> None:
    prom = Prometheus()
    assert prom.value("vector(3)") == 3.0
    prom.stop()
    with pytest.raises(OSError):
        prom.query("vector(1)")
    prom.stop()  # idempotent


def test_alert_rules_load_and_evaluate_without_error(prometheus: Prometheus) -> None:
    prometheus.wait_for('up{job="prometheus"} == 1')
    prometheus.wait_for("prometheus_rule_group_iterations_total > 1")
    rules = prometheus.rules()
    assert len(rules) >= 10
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert broken == {}


@pytest.mark.parametrize(("dashboard", "panel", "expr"), panel_queries())
def test_panel_query_runs_in_prometheus(
    prometheus: Prometheus, dashboard: str, panel: str, expr: str
) -> None:
    prometheus.query(expr)  # raises PrometheusError on a parse or evaluation error


@pytest.mark.parametrize(("dashboard", "name", "expr"), annotation_queries())
def test_annotation_query_runs_in_prometheus(
    prometheus: Prometheus, dashboard: str, name: str, expr: str
) -> None:
    prometheus.query(expr)


def test_executive_dashboard_marks_firing_alerts() -> None:
    """The home dashboard overlays firing business and critical engine alerts (ALERTS)."""
    (executive,) = [d for d in dashboards().values() if d["uid"] == "streamkpi-executive"]
    exprs = [e for d, _, e in annotation_queries() if d == executive["title"]]
    assert any('alertstate="firing"' in e and 'area="business"' in e for e in exprs), exprs
    assert any('area="engine"' in e and 'severity="critical"' in e for e in exprs), exprs
    assert all(metric_names(e) == {"ALERTS"} for e in exprs)


# -- dashboards -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_dashboard_structure(name: str) -> None:
    dash = dashboards()[name]
    assert dash.get("uid") and dash.get("title"), f"{name}: needs uid and title"
    assert dash["panels"], f"{name}: no panel"
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"]), "panel ids repeat"
    for panel in dash["panels"]:
        where = f"{name} / {panel.get('title')}"
        assert panel.get("title"), where
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, where
        assert panel.get("targets"), f"{where}: no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID, where
            assert target.get("expr", "").strip() and target.get("refId"), where
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults.get("unit") and isinstance(defaults.get("decimals"), int), where
    for variable in dash["templating"]["list"]:
        assert variable["datasource"]["uid"] == DATASOURCE_UID, variable["name"]


def test_dashboard_uids_unique_and_grids_clean() -> None:
    uids = [d["uid"] for d in dashboards().values()]
    assert len(dashboards()) >= 4 and len(set(uids)) == len(uids)
    for name, dash in dashboards().items():
        cells: dict[tuple[int, int], str] = {}
        for panel in dash["panels"]:
            g = panel["gridPos"]
            assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{name}: {panel['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]


def test_feature_variable_drives_the_feature_panels() -> None:
    engagement = [d for d in dashboards().values() if "feature" in d["title"].lower()]
    assert engagement, "an engagement & feature adoption dashboard"
    variables = {v["name"]: v for v in engagement[0]["templating"]["list"]}
    assert variables["feature"]["allValue"] == ".*" and variables["feature"]["includeAll"]
    exprs = [t["expr"] for p in engagement[0]["panels"] for t in p["targets"]]
    assert any('feature=~"$feature"' in e for e in exprs)


def test_segments_dashboard_covers_both_dimensions_and_the_cohort_triangle() -> None:
    (segments,) = [d for d in dashboards().values() if d["uid"] == "streamkpi-segments"]
    exprs = [t["expr"] for p in segments["panels"] for t in p["targets"]]
    for metric in ("saas_segment_mrr", "saas_segment_paying_customers", "saas_segment_new_customers",
                   "saas_segment_customer_churn_rate", "saas_segment_nrr"):  # fmt: skip
        for dimension in ("country", "channel"):
            assert any(f'{metric}{{dimension="{dimension}"' in e for e in exprs), (
                metric,
                dimension,
            )
    assert any('saas_segment_cac{dimension="channel"' in e for e in exprs)
    triangles = {
        t["expr"]: step["options"]
        for p in segments["panels"]
        for t in p["targets"]
        for step in p.get("transformations", [])
        if step["id"] == "groupingToMatrix"
    }
    assert {metric_names(e).pop() for e in triangles} == {
        "saas_cohort_logo_retention", "saas_cohort_mrr_retention",
    }  # fmt: skip
    for options in triangles.values():  # cohorts as rows, ages as columns
        assert (options["rowField"], options["columnField"]) == ("cohort", "age")


def test_substitute_replaces_grafana_variables() -> None:
    raw = 'rate(x{feature=~"$feature"}[$__rate_interval]) + y[$__interval] + z[${__range}]'
    assert substitute(raw) == 'rate(x{feature=~".*"}[1m]) + y[15s] + z[1h]'
    with pytest.raises(ValueError):
        substitute("x[$unknown]")


# -- metric names and aggregation -----------------------------------------------


def test_promql_analysis_understands_our_idioms() -> None:
    expr = 'max without (instance, pod) (sum without (topic) (rate(saas_a_total{k="v"}[5m] offset 7d)))'
    assert metric_names(expr) == {"saas_a_total"} and worker_collapse_errors(expr) == []
    assert worker_collapse_errors("sum(saas_mrr)") and worker_collapse_errors("saas_mrr > 0")
    assert worker_collapse_errors("sum by (job) (rate(saas_x_total[1m]))")
    assert metric_names('count(up{job="a"} == 1) or vector(0)') == {"up"}
    assert metric_names(
        'time() - label_replace(m1, "a", "$1", "b", "(.*)") / ignoring (kind) m2'
    ) == {"m1", "m2"}


def all_exprs(prometheus: Prometheus) -> list[tuple[str, str]]:
    """Every panel and annotation query, and every alert expression as Prometheus parsed it."""
    panels = [(f"{d} / {p}", e) for d, p, e in panel_queries() + annotation_queries()]
    return panels + [(f"alert {r['name']}", r["query"]) for r in prometheus.rules()]


def test_every_metric_name_is_in_the_contract(prometheus: Prometheus) -> None:
    allowed = spec_metrics() | EXTRA_METRICS | BUILTIN_METRICS
    exprs = all_exprs(prometheus)
    assert len(exprs) > len(panel_queries()) >= 40
    unknown = {(where, n) for where, e in exprs for n in metric_names(e) if n not in allowed}
    assert unknown == set()


def test_every_spec_metric_is_on_a_dashboard() -> None:
    shown = {name for _, _, expr in panel_queries() for name in metric_names(expr)}
    assert spec_metrics() - shown == set()


def test_every_kpi_target_is_drawn() -> None:
    exprs = " ".join(expr for _, _, expr in panel_queries())
    drawn = set(re.findall(r'saas_kpi_target\{kpi="(\w+)"\}', exprs))
    assert TARGET_KPIS - drawn == set()


def test_every_query_collapses_workers_with_max(prometheus: Prometheus) -> None:
    errors = {where: worker_collapse_errors(e) for where, e in all_exprs(prometheus)}
    assert {where: err for where, err in errors.items() if err} == {}


def test_metrics_copy_matches_spec() -> None:
    copy = [ln for ln in METRICS_COPY.read_text().splitlines() if ln and not ln.startswith("#")]
    assert copy, "docs/metrics.txt is empty"
    if SPEC.is_file():
        assert copy == spec_metrics_from(SPEC.read_text()), "docs/metrics.txt drifted from SPEC §4"


def operations_anchors() -> set[str]:
    lines = OPERATIONS.read_text().splitlines()
    return {github_anchor(line.lstrip("#")) for line in lines if line.startswith("#")}


def test_operations_links_resolve() -> None:
    links = set(re.findall(r"\]\(#([\w-]+)\)", OPERATIONS.read_text()))
    assert links - operations_anchors() == set()


RUNBOOK_URL = re.compile(
    r'^\{\{ or \$externalLabels\.runbook_base "(?P<base>https?://[^"\s]+)" \}\}#(?P<anchor>[\w-]+)$'
)


def test_runbook_urls_point_at_operations_headings(prometheus: Prometheus) -> None:
    """Every runbook_url is `<base>#<heading of docs/operations.md>`: the base is the
    external label `runbook_base` when Prometheus sets one, else the default, one
    absolute URL shared by every rule (it must open from outside the repository)."""
    anchors = operations_anchors()
    bases = set()
    for rule in prometheus.rules():
        url = rule["annotations"].get("runbook_url", "")
        match = RUNBOOK_URL.match(url)
        assert match and match["anchor"] in anchors, f"{rule['name']}: {url}"
        bases.add(match["base"])
        assert rule["annotations"].get("summary") and rule["annotations"].get("description")
    assert len(bases) == 1 and next(iter(bases)).endswith("/docs/operations.md"), bases
