"""The business simulator: reproducible, valid per SPEC §2, consistent however it is sliced.

The validator below is written from SPEC §2 and docs/definitions.md on purpose,
independently of `events/` (which it must agree with, not reuse).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.simulation import SimConfig, Simulator, write_history
from engine.simulation.incidents import INCIDENTS, Incident, incident_when, plan_incident
from engine.simulation.live import SimClock, live_config
from engine.simulation.simulator import history_config
from tests import reference

START = datetime(2026, 1, 1, tzinfo=UTC)
SMALL = SimConfig(customers=40, days=30, seed=7)
# The calibration year (docs/simulation.md): about the smallest business whose 30-day
# figures at the end of the year land inside the published ranges for every seed tried.
CALIBRATION = SimConfig(customers=1000, days=365, seed=1)
YEAR = SimConfig(customers=300, days=365, seed=5)  # every v2 behaviour, a year long

STR, INT, NUM, BOOL = "str", "int", "num", "bool"
SUB = {"customer_id": STR, "subscription_id": STR}
PAY = {"customer_id": STR, "amount": INT, "currency": STR}
MONEY = {"amount": INT, "currency": STR}
REQUIRED: dict[str, dict[str, str]] = {
    "trial.started": {**SUB, "plan": STR},
    "subscription.started": {**SUB, "plan": STR, **MONEY, "interval": STR, "quantity": INT},
    "subscription.changed": SUB,
    "subscription.paused": SUB,
    "subscription.resumed": SUB,
    "subscription.canceled": SUB,
    "trial.ended": SUB,
    "payment.succeeded": PAY,
    "payment.failed": PAY,
    "payment.refunded": PAY,
    "lead.created": {"lead_id": STR},
    "spend": {"category": STR, **MONEY},
    "cash.balance": MONEY,
    "ticket.opened": {"customer_id": STR},
    "ticket.replied": {"customer_id": STR, "ticket_id": STR},
    "ticket.resolved": {"customer_id": STR, "ticket_id": STR},
    "nps.response": {"customer_id": STR, "score": INT},
    "csat.response": {"customer_id": STR, "score": INT},
    "customer.updated": {"customer_id": STR},
    "signup": {"user_id": STR},
    "fx.rate": {"currency": STR, "rate": NUM},
    "usage": {"user_id": STR, "customer_id": STR, "feature": STR},
    "visit": {"visitor_id": STR},
}
OPTIONAL = {
    "plan": STR, "amount": INT, "currency": STR, "interval": STR, "quantity": INT,
    "reason": STR, "invoice_id": STR, "channel": STR, "country": STR, "ticket_id": STR,
    "cancel_at_period_end": BOOL,
}  # fmt: skip
INTERVALS = {"day", "week", "month", "quarter", "year"}
CATEGORIES = {"sales", "marketing", "cogs", "opex"}
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def has_type(value: Any, kind: str) -> bool:
    if kind == BOOL or isinstance(value, bool):
        return kind == BOOL and isinstance(value, bool)
    if kind == STR:
        return isinstance(value, str) and value != ""
    return isinstance(value, int) if kind == INT else isinstance(value, int | float)


def problems(event: dict[str, Any]) -> list[str]:
    """Everything SPEC §2.5 would reject about `event` on its own (no state)."""
    if not (isinstance(event.get("event_id"), str) and 1 <= len(event["event_id"]) <= 128):
        return ["event_id"]
    if event.get("type") not in REQUIRED or not TS.match(str(event.get("ts"))):
        return ["type or ts"]
    found = [f"missing {k}" for k in REQUIRED[event["type"]] if event.get(k) is None]
    fields = {**OPTIONAL, **REQUIRED[event["type"]]}
    found += [
        f"type of {k}" for k, kind in fields.items() if k in event and not has_type(event[k], kind)
    ]
    found += value_problems(event)
    return found


def value_problems(event: dict[str, Any]) -> list[str]:
    checks = {
        "amount": lambda v: v >= 0,
        "quantity": lambda v: v >= 1,
        "currency": lambda v: re.fullmatch("[A-Z]{3}", v) is not None,
        "interval": lambda v: v in INTERVALS,
        "category": lambda v: v in CATEGORIES,
        "score": lambda v: 0 <= v <= 10 and (event["type"] != "csat.response" or v >= 1 and v <= 5),
        "rate": lambda v: v > 0,
        "country": lambda v: re.fullmatch("[A-Z]{2}", v) is not None,
        "channel": lambda v: 1 <= len(v) <= 64,
    }
    return [f"value of {k}" for k, ok in checks.items() if k in event and not ok(event[k])]


def flatten(items: list[Any]) -> list[dict[str, Any]]:
    return [e for item in items for e in (item if isinstance(item, list) else [item])]


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["ts"])


@pytest.fixture(scope="module")
def default_items() -> list[Any]:
    return list(Simulator(SimConfig()).history())


@pytest.fixture(scope="module")
def default_events(default_items: list[Any]) -> list[dict[str, Any]]:
    return flatten(default_items)


@pytest.fixture(scope="module")
def year_items() -> list[Any]:
    return list(Simulator(YEAR).history())


@pytest.fixture(scope="module")
def year_events(year_items: list[Any]) -> list[dict[str, Any]]:
    return flatten(year_items)


def test_same_seed_gives_identical_output() -> None:
    first = orjson.dumps(list(Simulator(SMALL).history()))
    assert first == orjson.dumps(list(Simulator(SMALL).history()))


def test_different_seed_gives_different_output() -> None:
    other = SimConfig(customers=40, days=30, seed=8)
    assert list(Simulator(SMALL).history()) != list(Simulator(other).history())


def test_every_event_is_valid(default_events: list[dict[str, Any]]) -> None:
    bad = [(e, p) for e in default_events if (p := problems(e))]
    assert bad == []


def test_event_ids_are_unique(default_events: list[dict[str, Any]]) -> None:
    ids = [e["event_id"] for e in default_events]
    assert len(set(ids)) == len(ids)


def test_ts_non_decreasing_and_inside_window(default_events: list[dict[str, Any]]) -> None:
    times = [at(e) for e in default_events]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] < START + timedelta(days=90)


def test_batches_hold_only_usage_and_visits(default_items: list[Any]) -> None:
    batches = [item for item in default_items if isinstance(item, list)]
    assert batches and all(batches)
    assert {e["type"] for batch in batches for e in batch} <= {"usage", "visit"}


def test_all_event_types_appear(year_events: list[dict[str, Any]]) -> None:
    assert set(Counter(e["type"] for e in year_events)) == set(REQUIRED)


def test_default_volume_is_moderate(default_events: list[dict[str, Any]]) -> None:
    assert 15_000 <= len(default_events) <= 100_000


@pytest.mark.parametrize("fixture", ["default_events", "year_events"])
def test_subscription_lifecycle_is_consistent(fixture: str, request: Any) -> None:
    assert_lifecycle(request.getfixturevalue(fixture))


def assert_lifecycle(events: list[dict[str, Any]]) -> None:
    """Only known subscriptions change; pause/resume/trial/schedule transitions are legal."""
    state: dict[str, str] = {}
    for e in events:
        sub, kind = e.get("subscription_id"), e["type"]
        if kind == "trial.started":
            assert sub not in state
            state[sub] = "trial"
        elif kind == "subscription.started":
            assert state.get(sub, "trial") == "trial", e
            state[sub] = "active"
        elif kind == "subscription.changed" and "cancel_at_period_end" in e:
            assert set(e) - {"event_id", "type", "ts"} == {*SUB, "cancel_at_period_end"}, e
            wanted = "active" if e["cancel_at_period_end"] else "scheduled"
            assert state.get(sub) == wanted, e
            state[sub] = "scheduled" if e["cancel_at_period_end"] else "active"
        elif sub is not None:
            assert state.get(sub) in LEGAL_FROM[kind], e
            state[sub] = AFTER[kind]


def assert_tickets_answered_only_while_open(events: list[dict[str, Any]]) -> None:
    """SPEC §2.3: a reply or resolution only for an open ticket (else `unknown_ticket`)."""
    open_tickets: set[tuple[str, str]] = set()
    for e in events:
        key = (e.get("customer_id"), e.get("ticket_id"))
        if e["type"] == "ticket.opened":
            open_tickets.add(key)
        elif e["type"] in ("ticket.replied", "ticket.resolved"):
            assert key in open_tickets, e
            if e["type"] == "ticket.resolved":
                open_tickets.remove(key)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    customers=st.integers(1, 25),
    days=st.integers(1, 45),
    kind=st.sampled_from([None, *INCIDENTS]),
    hour=st.integers(0, 24 * 45 - 1),
    currency=st.sampled_from(["USD", "EUR", "JPY"]),
)
def test_any_small_business_is_valid(
    seed: int, customers: int, days: int, kind: str | None, hour: int, currency: str
) -> None:
    """Whatever the size, seed, currency and incident: valid, ordered, unique, legal."""
    moment = START + timedelta(hours=hour % (24 * days))
    incident = Incident(kind, moment) if kind else None
    config = SimConfig(customers=customers, days=days, seed=seed, incident=incident,
                       currency=currency)  # fmt: skip
    events = flatten(list(Simulator(config).history()))
    assert [p for e in events if (p := problems(e))] == []
    assert [at(e) for e in events] == sorted(at(e) for e in events)
    assert len({e["event_id"] for e in events}) == len(events)
    assert_lifecycle(events)
    assert_tickets_answered_only_while_open(events)


def test_scheduled_cancellations_end_withdrawn_or_canceled(year_events: list[Any]) -> None:
    """Some schedules are withdrawn (`false`); most end in a cancel on the billing date."""
    scheduled: dict[str, datetime] = {}
    withdrawn = canceled = 0
    for e in year_events:
        sub = e.get("subscription_id")
        if e.get("cancel_at_period_end") is True:
            scheduled[sub] = at(e)
        elif e.get("cancel_at_period_end") is False:
            withdrawn += 1
            del scheduled[sub]
        elif e["type"] == "subscription.canceled" and sub in scheduled:
            assert at(e) - scheduled.pop(sub) <= timedelta(days=366)
            canceled += 1
    assert withdrawn >= 3 and canceled >= 2 * withdrawn


LEGAL_FROM = {
    "trial.ended": {"trial"},
    "subscription.changed": {"active"},
    "subscription.paused": {"active"},
    "subscription.resumed": {"paused"},
    "subscription.canceled": {"active", "paused", "scheduled"},
}
AFTER = {
    "trial.ended": "trial_ended",
    "subscription.changed": "active",
    "subscription.paused": "paused",
    "subscription.resumed": "active",
    "subscription.canceled": "canceled",
}


def test_involuntary_cancels_follow_a_failed_payment(year_events: list[dict[str, Any]]) -> None:
    failed: set[str] = set()
    involuntary = 0
    for e in year_events:
        if e["type"] == "payment.failed":
            failed.add(e["customer_id"])
        elif e["type"] == "subscription.canceled" and e.get("reason") == "payment_failed":
            assert e["customer_id"] in failed
            involuntary += 1
    assert involuntary > 0


def test_foreign_currencies_are_quoted_before_use(default_events: list[dict[str, Any]]) -> None:
    quoted: set[str] = set()
    used: set[str] = set()
    for e in default_events:
        if e["type"] == "fx.rate":
            quoted.add(e["currency"])
        elif "currency" in e and e["currency"] != "USD":
            assert e["currency"] in quoted, e
            used.add(e["currency"])
    assert {"EUR", "GBP"} <= used


def test_usage_belongs_to_the_customers_users(default_events: list[dict[str, Any]]) -> None:
    usage = [e for e in default_events if e["type"] == "usage"]
    assert all(e["user_id"].startswith(f"u-{e['customer_id']}-") for e in usage)
    features = {e["feature"] for e in usage}
    assert 3 <= len(features) <= 6
    early = {e["feature"] for e in usage if at(e) < START + timedelta(days=40)}
    assert len(features - early) == 1  # the feature launched mid-history


@pytest.mark.parametrize("step", [timedelta(days=1), timedelta(hours=7, minutes=13, seconds=5)])
def test_consecutive_slices_equal_history(step: timedelta) -> None:
    history = list(Simulator(SMALL).history())
    sim, t, sliced = Simulator(SMALL), START, []
    while t < START + timedelta(days=SMALL.days):
        t1 = min(t + step, START + timedelta(days=SMALL.days))
        chunk = list(sim.events_between(t, t1))
        assert all(t <= at(e) < t1 for e in flatten(chunk))
        sliced += chunk
        t = t1
    if step == timedelta(days=1):
        assert sliced == history
    assert flatten(sliced) == flatten(history)


def test_the_world_goes_on_after_the_configured_days() -> None:
    sim = Simulator(SMALL)
    list(sim.history())
    end = START + timedelta(days=SMALL.days)
    later = flatten(list(sim.events_between(end, end + timedelta(days=10))))
    assert later and all(not problems(e) for e in later)
    assert all(end <= at(e) < end + timedelta(days=10) for e in later)
    assert {"usage", "payment.succeeded", "fx.rate", "cash.balance"} <= {e["type"] for e in later}


def test_batching_changes_only_the_framing() -> None:
    plain = list(Simulator(SimConfig(customers=40, days=30, seed=7, batch_usage=False)).history())
    assert not any(isinstance(item, list) for item in plain)
    assert plain == flatten(list(Simulator(SMALL).history()))


@pytest.mark.parametrize("upc", [2, 10])
def test_usage_scales_with_users_per_customer(upc: int) -> None:
    """Users per customer follow the setting; an active user makes 1-3 events a day."""
    config = SimConfig(customers=40, days=30, seed=7, users_per_customer=upc)
    usage = [e for e in flatten(list(Simulator(config).history())) if e["type"] == "usage"]
    users = {e["user_id"] for e in usage}
    customers = {e["customer_id"] for e in usage}
    assert 0.6 * upc <= len(users) / len(customers) <= 2 * upc
    per_user_day = Counter((e["user_id"], e["ts"][:10]) for e in usage)
    assert 1.5 <= len(usage) / len(per_user_day) <= 3


def test_reporting_currency_other_than_usd() -> None:
    config = SimConfig(customers=40, days=30, seed=7, currency="EUR")
    events = flatten(list(Simulator(config).history()))
    assert {e["currency"] for e in events if e["type"] == "fx.rate"} == {"USD", "GBP"}
    assert {e["currency"] for e in events if e["type"] in ("spend", "cash.balance")} == {"EUR"}


def test_write_history_writes_jsonl(tmp_path: Any) -> None:
    path, seen = tmp_path / "history.jsonl", []
    lines = write_history(SMALL, path, progress=seen.append)
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert lines == len(rows) == sum(seen)
    assert rows == list(Simulator(SMALL).history())


@pytest.mark.parametrize(
    "bad", [{"customers": -1}, {"days": -1}, {"users_per_customer": 0}, {"currency": "XYZ"}]
)
def test_config_rejects_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimConfig(**bad)


# ---- v2 events: customers, channels, support, funnel -------------------------------------


def first_per_customer(events: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["type"] == kind:
            seen.setdefault(e["customer_id"], e)
    return seen


def test_customers_have_weighted_countries_and_channels(year_events: list[Any]) -> None:
    arrivals = first_per_customer(year_events, "customer.updated")
    countries = Counter(e.get("country", "unknown") for e in arrivals.values())
    assert countries.most_common(1)[0][0] == "US" and 0.3 < countries["US"] / len(arrivals) < 0.45
    assert len(countries) >= 12 and 0 < countries["unknown"] < 0.06 * len(arrivals)
    channels = Counter(e["channel"] for e in arrivals.values())
    assert channels.most_common(1)[0][0] == "organic" and len(channels) == 6
    moves = [e for e in year_events if e["type"] == "customer.updated" and "channel" not in e]
    assert moves and all(
        set(e) == {"event_id", "type", "ts", "customer_id", "country"} for e in moves
    )


def test_channels_differ_in_cac_and_churn(year_events: list[Any]) -> None:
    """Per channel over the year: spend per new paying customer, and the share that left."""
    channel = {
        c: e["channel"] for c, e in first_per_customer(year_events, "customer.updated").items()
    }
    paid = first_per_customer(year_events, "subscription.started")
    new = Counter(channel[c] for c in paid)
    spend = Counter()
    for e in year_events:
        if e["type"] == "spend" and "channel" in e:
            assert e["category"] in ("sales", "marketing")
            spend[e["channel"]] += e["amount"]
    cac = {ch: spend[ch] / new[ch] / 100 for ch in new}
    assert cac["outbound"] > 3 * cac["organic"] and cac["paid_search"] > 2 * cac["referral"]
    left = Counter(channel[e["customer_id"]] for e in first_per_customer(
        year_events, "subscription.canceled").values() if e["customer_id"] in paid)  # fmt: skip
    assert left["social"] / new["social"] > 1.3 * left["referral"] / new["referral"]


def test_tickets_are_answered_in_hours_and_resolved_in_days(year_events: list[Any]) -> None:
    opened: dict[tuple[str, str], datetime] = {}
    first_reply, resolution, reopened, csat_after = [], [], 0, 0
    resolved: dict[str, datetime] = {}
    for e in year_events:
        key = (e.get("customer_id"), e.get("ticket_id"))
        if e["type"] == "ticket.opened":
            assert e["ticket_id"] and key not in opened
            reopened += key in {k for k in resolved}
            opened[key] = at(e)
        elif e["type"] == "ticket.replied":
            assert key in opened, e  # a reply only to an open ticket
            first_reply.append((at(e) - opened[key]).total_seconds() / 3600)
        elif e["type"] == "ticket.resolved":
            resolution.append((at(e) - opened.pop(key)).total_seconds() / 3600)
            resolved[key] = at(e)
        elif e["type"] == "csat.response":
            assert 1 <= e["score"] <= 5
            csat_after += any(k[0] == e["customer_id"] and t <= at(e) for k, t in resolved.items())
    csat = [e for e in year_events if e["type"] == "csat.response"]
    assert csat and csat_after == len(csat)  # a survey follows a resolution
    assert 1 <= sorted(first_reply)[len(first_reply) // 2] <= 6  # median hours
    assert 12 <= sorted(resolution)[len(resolution) // 2] <= 72
    assert reopened > 0


def test_signups_come_from_visitors_and_precede_the_account(year_events: list[Any]) -> None:
    arrivals = first_per_customer(year_events, "customer.updated")
    signups = {e["user_id"]: e for e in year_events if e["type"] == "signup"}
    for customer, arrival in arrivals.items():
        signup = signups[f"u-{customer}-1"]
        assert signup["channel"] == arrival["channel"] and at(signup) <= at(arrival)
    assert len(signups) > 1.5 * len(arrivals)  # free-plan signups too
    visits = [at(e) for e in year_events if e["type"] == "visit"]
    assert visits[0] <= min(at(e) for e in signups.values())


# ---- calibration: published SMB / mid-market SaaS ranges (docs/simulation.md) --------------

RANGES = {  # SPEC metric (30-day window at the end of the year) -> published range
    'saas_customer_churn_rate{window="30d"}': (0.02, 0.08),
    'saas_nrr{window="30d"}': (0.90, 1.20),
    'saas_trial_conversion_rate{window="30d"}': (0.15, 0.30),
    "saas_stickiness": (0.10, 0.30),
    'saas_cac_payback_months{window="30d"}': (6.0, 24.0),
    'saas_gross_margin{window="30d"}': (0.70, 0.85),
}


def recent_lines(config: SimConfig, days: int = 31) -> Iterator[bytes]:
    """The history as JSONL, less the usage and visits older than `days` before its end.

    Old usage and visits change none of the figures checked here (their windows
    are at most 30 days), and dropping them keeps the reference quick.
    """
    cut = config.end - timedelta(days=days)
    for item in Simulator(config).history():
        first = item[0] if isinstance(item, list) else item
        if first["type"] not in ("usage", "visit") or at(first) >= cut:
            yield orjson.dumps(item)


@pytest.fixture(scope="module")
def year_metrics() -> dict[str, float]:
    return reference.compute(recent_lines(CALIBRATION))


@pytest.mark.parametrize("metric", list(RANGES))
def test_a_simulated_year_lands_in_the_published_ranges(
    metric: str, year_metrics: dict[str, float]
) -> None:
    low, high = RANGES[metric]
    assert low <= year_metrics[metric] <= high, (metric, year_metrics[metric])


def test_a_simulated_year_stays_inside_the_default_targets(year_metrics: dict[str, float]) -> None:
    """The shipped targets (engine/targets.default.toml) do not page anyone on a quiet day."""
    assert year_metrics['saas_customer_churn_rate{window="30d"}'] < 0.05
    assert year_metrics['saas_mrr_top_share{top="20pct"}'] < 0.6
    assert year_metrics['saas_cac{window="30d"}'] < 2000
    assert year_metrics['saas_runway_months{window="30d"}'] >= 12
    assert 0.02 <= year_metrics['saas_visitor_signup_rate{window="30d"}'] <= 0.05


# ---- incidents -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "300", "2026-11-20T14:00:00Z", "-3d", "+90m", "+2h"])
def test_incident_when_accepts(text: str) -> None:
    assert incident_when(text) == text


@pytest.mark.parametrize("text", ["", "soon", "+5y", "-2", "2026-13-01"])
def test_incident_when_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        incident_when(text)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("10", datetime(2026, 1, 11, 12, tzinfo=UTC)),
        ("-12h", datetime(2026, 3, 31, 12, tzinfo=UTC)),
        ("+90m", datetime(2026, 4, 1, 1, 30, tzinfo=UTC)),
        ("2026-02-03T04:05:06+01:00", datetime(2026, 2, 3, 3, 5, 6, tzinfo=UTC)),
    ],
)
def test_plan_incident_resolves_when(when: str, expected: datetime) -> None:
    present = datetime(2026, 4, 1, tzinfo=UTC)
    assert plan_incident("mrr-drop", when, START, present) == Incident("mrr-drop", expected)


def test_history_config_checks_the_incident() -> None:
    assert history_config(10, 30, 1).incident is None
    assert history_config(10, 30, 1, "churn-spike").incident == Incident(
        "churn-spike", START + timedelta(days=29, hours=12)
    )
    for kind, when in [(None, "5"), ("churn-spike", "30"), ("churn-spike", "+1h"), ("x", "5")]:
        with pytest.raises(ValueError):
            history_config(10, 30, 1, kind, when)


def metrics_before(events: list[dict[str, Any]], moment: datetime) -> dict[str, float]:
    return reference.compute(orjson.dumps(e) for e in events if at(e) < moment)


@pytest.mark.parametrize(
    ("kind", "lasting"),
    [("churn-spike", timedelta(hours=3, seconds=1)), ("mrr-drop", timedelta(minutes=41))],
)
def test_an_incident_leaves_the_past_alone_and_fires(kind: str, lasting: timedelta) -> None:
    base = SimConfig(customers=150, days=100, seed=3)
    moment = START + timedelta(days=95, hours=13)
    quiet = flatten(list(Simulator(base).history()))
    loud = flatten(list(Simulator(replace(base, incident=Incident(kind, moment))).history()))
    assert [e for e in loud if at(e) < moment] == [e for e in quiet if at(e) < moment]
    before = metrics_before(loud, moment)
    after, calm = metrics_before(loud, moment + lasting), metrics_before(quiet, moment + lasting)
    if kind == "mrr-drop":  # MrrDrop: MRR below 95 % of an hour ago
        assert after["saas_mrr"] <= 0.85 * min(before["saas_mrr"], calm["saas_mrr"])
    else:  # CustomerChurnSpike: 30-day churn well above target
        leavers = {e["customer_id"] for e in loud if moment <= at(e) < moment + lasting
                   and e.get("reason") == "switched_competitor"}  # fmt: skip
        assert len(leavers) >= 0.1 * before["saas_paying_customers"]
        churn = 'saas_customer_churn_rate{window="30d"}'
        assert after[churn] >= calm[churn] + 0.07


# ---- live clock ----------------------------------------------------------------------------


def test_the_live_clock_is_the_wall_clock_unless_sped_up() -> None:
    began = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    real = SimClock(began)
    for elapsed in (0.0, 0.4, 1.0, 59.9, 3600.0, 86400.0 * 30):
        assert real.at(elapsed) == began + timedelta(seconds=elapsed)  # never past the clock
    assert SimClock(began, speed=60).at(60) == began + timedelta(hours=1)
    with pytest.raises(ValueError):
        SimClock(began, speed=0)


def test_live_config_backfills_from_midnight_and_plans_incidents_from_now() -> None:
    now = datetime(2026, 6, 1, 9, 30, 15, tzinfo=UTC)
    config = live_config(50, 7, 2, "EUR", now=now)
    assert config.start == datetime(2026, 5, 25, tzinfo=UTC) and config.incident is None
    sped = live_config(50, 7, 2, "USD", incident="mrr-drop", incident_at="+65m", now=now)
    assert sped.incident == Incident("mrr-drop", now + timedelta(minutes=65))
    default = live_config(50, 7, 2, "USD", incident="churn-spike", now=now)
    assert default.incident == Incident("churn-spike", now + timedelta(minutes=10))
    with pytest.raises(ValueError):
        live_config(50, 7, 2, "USD", incident_at="+1h", now=now)


def test_live_slices_never_run_ahead_of_their_end() -> None:
    """What the live loop hands out between ticks stays inside [cursor, clock)."""
    now = datetime(2026, 6, 1, 9, 30, 15, tzinfo=UTC)
    sim = Simulator(live_config(60, 10, 4, "USD", now=now))
    backfill = flatten(list(sim.events_between(sim.config.start, now)))
    assert backfill and at(backfill[-1]) < now
    clock, cursor = SimClock(now), now
    for tick in range(1, 4 * 3600, 97):
        target = clock.at(tick)
        assert all(
            cursor <= at(e) < target for e in flatten(list(sim.events_between(cursor, target)))
        )
        cursor = target


def test_simulate_command_fires_an_incident_reproducibly(tmp_path: Any) -> None:
    from engine.cli import main

    flags = ["--customers", "40", "--days", "30", "--incident", "mrr-drop", "--incident-at=-2d"]
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    assert [main(["simulate", "--out", str(p), *flags]) for p in paths] == [0, 0]
    assert paths[0].read_bytes() == paths[1].read_bytes()
    moment = START + timedelta(days=28)
    loud = flatten([orjson.loads(line) for line in paths[0].read_bytes().splitlines()])
    quiet = flatten(list(Simulator(SimConfig(customers=40, days=30)).history()))
    lost = [sum(e["type"] == "subscription.canceled" and at(e) >= moment for e in events)
            for events in (loud, quiet)]  # fmt: skip
    assert lost[0] > lost[1]
    for bad in (["--incident-at", "5"], ["--incident", "mrr-drop", "--incident-at", "30"]):
        assert main(["simulate", "--out", str(paths[0]), "--days", "30", *bad]) == 2


def test_a_short_history_starts_with_an_established_base() -> None:
    """Under a year, 1 - days/365 of the customers pay from 00:00:00 of day one (unbilled,
    no signup), so the last month grows like a real business, not 2.5-fold."""
    config = SimConfig(customers=200, days=60, seed=1)
    events = flatten(list(Simulator(config).history()))
    opening = [e for e in events if e["ts"] == "2026-01-01T00:00:00Z"]
    started = {e["customer_id"] for e in opening if e["type"] == "subscription.started"}
    assert len(started) == round(200 * (1 - 60 / 365))
    assert not [e for e in opening if e["type"].startswith(("payment", "trial", "signup"))]
    month_ago = metrics_before(events, config.end - timedelta(days=30))
    now = reference.compute(orjson.dumps(e) for e in events)
    assert 1.05 < now["saas_paying_customers"] / month_ago["saas_paying_customers"] < 1.4
    year = flatten(list(Simulator(SimConfig(customers=30, days=365, seed=1)).history()))
    assert not [e for e in year if e["ts"] == "2026-01-01T00:00:00Z" and "customer_id" in e]
