"""Every label of /metrics stays bounded, whatever values producers send (issue 12).

Random plans, features, countries, channels, visitors, raw garbage and event
days go through the real path (router: decode, validate, store; usage
snapshots published into the view) and the report; the number of series per
metric must stay under what the caps allow: plans and features capped (the
rest under "other"), segments capped per dimension, cohorts bounded by the
12-month range, rejection reasons from the documented list, topics from the
four input topics. A label with a value from the input and no cap would grow
with the input and fail here.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.outbox import Outbox
from engine.router import Router
from engine.undecodable import REASON as UNDECODABLE
from engine.usage import UsageOwner
from events import schema
from tables.activity import UsageView
from tables.report import report
from tables.store import Store
from tests.engine.test_router import Msg, NoWait
from tests.events.templates import STATE_REASONS, STATIC_REASONS

PREFIX = "saas."
REASONS = STATIC_REASONS | STATE_REASONS | {UNDECODABLE}
WINDOWS = {"1d", "7d", "30d", "90d"}
COHORT_MONTHS = 12  # the month of T and the 11 before it
FIXED_LABELS = {
    "kind": {"new", "expansion", "contraction", "churn", "reactivation", "involuntary_churn"},
    "window": WINDOWS,
    "top": {"20pct", "10"},
    "dimension": {"country", "channel"},
    "age": {str(a) for a in range(COHORT_MONTHS)},
}


async def _nothing(*_args: Any) -> None:
    return None


def run_through(lines: list[tuple[str, bytes]], store: Store, view: UsageView) -> None:
    """Each (topic suffix, raw value) as one message through the router, then publish."""

    async def run() -> None:
        outbox = Outbox(PREFIX + schema.FACTS, _nothing)
        owner = UsageOwner(view, store, PREFIX + schema.USAGE_STATE, PREFIX + schema.FACTS)
        router = Router(PREFIX, store, NoWait(), _nothing, outbox, owner)
        for offset, (suffix, value) in enumerate(lines):
            await router.handle(suffix, Msg(PREFIX + suffix, offset % 3, offset, None, value))
        await owner.publish(_nothing)

    asyncio.run(run())


def ts(day: int) -> str:
    year, rest = divmod(day, 365)
    month, dom = divmod(rest % 336, 28)
    return f"{2025 + year}-{month + 1:02d}-{dom + 1:02d}T12:00:00Z"


labels = st.text(min_size=1, max_size=12)
countries = st.one_of(st.sampled_from(["US", "DE", "FR", "JP", "BR", "IN"]), st.text(max_size=3))


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    """A random history whose label-carrying fields take random values."""
    out: list[tuple[str, bytes]] = []
    n = draw(st.integers(1, 40))
    for i in range(n):
        day = draw(st.integers(0, 700))
        customer = f"c{draw(st.integers(0, n))}"
        common = {"event_id": f"e{i}", "ts": ts(day), "customer_id": customer}
        kind = draw(st.sampled_from(["customer", "start", "usage", "spend", "visit", "garbage"]))
        if kind == "customer":
            body = {"type": "customer.updated", "country": draw(countries), "channel": draw(labels)}
            out.append((schema.SUBSCRIPTIONS, orjson.dumps({**common, **body})))
        elif kind == "start":
            body = {
                "type": "subscription.started",
                "subscription_id": f"s{i}",
                "plan": draw(labels),
                "amount": draw(st.integers(1, 10**6)),
                "currency": "USD",
                "interval": "month",
            }
            out.append((schema.SUBSCRIPTIONS, orjson.dumps({**common, **body})))
        elif kind == "usage":
            users = draw(st.lists(st.tuples(labels, labels), min_size=1, max_size=5))
            batch = [
                {**common, "event_id": f"e{i}.{j}", "type": "usage", "user_id": u, "feature": f}
                for j, (u, f) in enumerate(users)
            ]
            out.append((schema.USAGE, orjson.dumps(batch)))
        elif kind == "spend":
            body = {"type": "spend", "category": "marketing", "amount": 100, "currency": "USD"}
            out.append((schema.BUSINESS, orjson.dumps({**common, **body, "channel": draw(labels)})))
        elif kind == "visit":
            body = {"event_id": f"e{i}", "ts": ts(day), "type": "visit", "visitor_id": draw(labels)}
            out.append((schema.USAGE, orjson.dumps(body)))
        else:
            topic = draw(st.sampled_from(schema.INPUT_TOPICS))
            out.append((topic, draw(st.binary(max_size=40))))
    return out


def series(samples: list[Any]) -> dict[str, list[dict[str, str]]]:
    by_name: dict[str, list[dict[str, str]]] = defaultdict(list)
    for name, pairs, _value in samples:
        by_name[name].append(dict(pairs))
    return by_name


def check_bounds(
    by_name: dict[str, list[dict[str, str]]], plans: int, features: int, segments: int
) -> None:
    def at_most(name: str, bound: int) -> None:
        assert len(by_name.get(name, [])) <= bound, (name, len(by_name[name]), bound)

    for name, label_sets in by_name.items():
        assert len({tuple(sorted(ls.items())) for ls in label_sets}) == len(label_sets), name
        for ls in label_sets:
            for label, value in ls.items():
                if label in FIXED_LABELS:
                    assert value in FIXED_LABELS[label], (name, label, value)
    at_most("saas_plan_mrr", plans + 1)
    at_most("saas_plan_customers", plans + 1)
    at_most("saas_feature_active_users", (features + 1) * 3)
    at_most("saas_feature_adoption", features + 1)
    for name in (
        "saas_segment_mrr",
        "saas_segment_paying_customers",
        "saas_segment_new_customers",
        "saas_segment_customer_churn_rate",
        "saas_segment_nrr",
    ):
        per_dimension = Counter(ls["dimension"] for ls in by_name.get(name, []))
        assert all(n <= segments + 1 for n in per_dimension.values()), (name, per_dimension)
    at_most("saas_segment_cac", segments + 1)
    at_most("saas_cohort_customers", COHORT_MONTHS)
    triangle = COHORT_MONTHS * (COHORT_MONTHS + 1) // 2
    at_most("saas_cohort_logo_retention", triangle)
    at_most("saas_cohort_mrr_retention", triangle)
    reasons = {ls["reason"] for ls in by_name.get("saas_events_rejected_total", [])}
    assert reasons <= REASONS, reasons - REASONS
    topics = {PREFIX + suffix for suffix in schema.INPUT_TOPICS}
    for name in ("saas_events_processed_total", "saas_events_duplicate_total"):
        assert {ls["topic"] for ls in by_name.get(name, [])} <= topics, name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_series_stay_under_the_caps_whatever_the_label_values(
    lines: list[tuple[str, bytes]],
) -> None:
    store, view = Store(max_plans=2, max_segments=2), UsageView(max_features=2)
    run_through(lines, store, view)
    check_bounds(series(report(store, view, PREFIX)), plans=2, features=2, segments=2)


def test_default_caps_hold_for_thousands_of_distinct_values() -> None:
    """3,000 plans, features, countries and channels: 51 / 51 / 21 series, not 3,000."""
    lines: list[tuple[str, bytes]] = []
    for i in range(3000):
        common = {"ts": "2026-03-01T00:00:00Z", "customer_id": f"c{i}"}
        lines.append(
            (
                schema.SUBSCRIPTIONS,
                orjson.dumps(
                    {
                        **common,
                        "event_id": f"a{i}",
                        "type": "customer.updated",
                        "country": f"{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}",
                        "channel": f"channel-{i}",
                    }
                ),
            )
        )
        start = {
            "subscription_id": f"s{i}",
            "plan": f"plan-{i}",
            "amount": 1000 + i,
            "currency": "USD",
            "interval": "month",
        }
        lines.append(
            (
                schema.SUBSCRIPTIONS,
                orjson.dumps(
                    {**common, **start, "event_id": f"b{i}", "type": "subscription.started"}
                ),
            )
        )
        usage = {"event_id": f"u{i}", "type": "usage", "user_id": f"u{i}", "feature": f"f-{i}"}
        lines.append((schema.USAGE, orjson.dumps({**common, **usage})))
    store, view = Store(), UsageView()
    run_through(lines, store, view)
    by_name = series(report(store, view, PREFIX))
    check_bounds(by_name, plans=50, features=50, segments=20)
    assert len(by_name["saas_plan_mrr"]) == 51 and {"plan": "other"} in by_name["saas_plan_mrr"]
    assert len(by_name["saas_feature_adoption"]) == 51
    assert Counter(ls["dimension"] for ls in by_name["saas_segment_mrr"]) == {
        "country": 21,
        "channel": 21,
    }
    assert sum(len(v) for v in by_name.values()) < 1000
