"""KPI targets from a small TOML file, exported as saas_kpi_target{kpi} (docs/targets.md)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

DEFAULT = "targets.default.toml"
# The KPIs an alert rule compares with a target (prometheus/alerts.yml); any
# other name would be exported and silently never fire, so it is refused.
KNOWN = frozenset(
    {
        "customer_churn_rate",
        "net_mrr_churn_rate",
        "nrr",
        "mrr_top_share_20pct",
        "cac",
        "quick_ratio",
        "gross_margin",
        "runway_months",
        "csat",
        "ticket_resolution_hours",
        "burn_multiple",
    }
)


def load_targets(path: str | None) -> dict[str, float]:
    """`[targets]` table of kpi -> number; the packaged defaults when `path` is None."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = resources.files("engine").joinpath(DEFAULT).read_text(encoding="utf-8")
    table = tomllib.loads(text).get("targets", {})
    unknown = sorted(set(table) - KNOWN)
    if unknown:
        valid = ", ".join(sorted(KNOWN))
        raise ValueError(f"unknown KPI {', '.join(unknown)} (valid: {valid})")
    bad = [k for k, v in table.items() if isinstance(v, bool) or not isinstance(v, int | float)]
    if bad:
        raise ValueError(f"targets must be numbers: {', '.join(sorted(bad))}")
    return {str(k): float(v) for k, v in sorted(table.items())}
