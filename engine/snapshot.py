"""`streamkpi snapshot`: read a running deployment's /metrics and print the KPIs."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tables.report import Sample

MAIN = (
    "saas_mrr",
    "saas_arr",
    "saas_arpa",
    "saas_paying_customers",
    "saas_customer_churn_rate",
    "saas_gross_mrr_churn_rate",
    "saas_net_mrr_churn_rate",
    "saas_nrr",
    "saas_grr",
    "saas_quick_ratio",
    "saas_ltv",
    "saas_cac",
    "saas_runway_months",
    "saas_active_users",
    "saas_stickiness",
    "saas_at_risk_customers",
    "saas_mrr_top_share",
    "saas_nps",
    "saas_events_processed_total",
    "saas_events_rejected_total",
)


def fetch(url: str, timeout: float = 5.0) -> list[Sample]:
    """Samples of a Prometheus text page (saas_* only, no *_created)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - operator-given URL
        text = response.read().decode("utf-8")
    samples: list[Sample] = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("saas_") and not s.name.endswith("_created"):
                samples.append((s.name, tuple(sorted(s.labels.items())), float(s.value)))
    return samples


def _label_text(labels: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels)


def format_table(samples: Iterable[Sample], names: Iterable[str] = MAIN) -> str:
    """A fixed-width table of the main KPIs, in `names` order."""
    wanted = list(names)
    rows = sorted((s for s in samples if s[0] in wanted), key=lambda s: (wanted.index(s[0]), s[1]))
    lines = [f"{'metric':<34} {'labels':<32} {'value':>16}", "-" * 84]
    lines += [f"{n:<34} {_label_text(lb):<32} {v:>16,.4f}" for n, lb, v in rows]
    return "\n".join(lines)


def to_json(samples: Iterable[Sample]) -> str:
    items = [{"metric": n, "labels": dict(lb), "value": v} for n, lb, v in samples]
    return orjson.dumps(items, option=orjson.OPT_INDENT_2).decode()
