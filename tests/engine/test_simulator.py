"""The business simulator: reproducible, valid per SPEC §2, consistent however it is sliced.

The validator below is written from SPEC §2 and docs/definitions.md on purpose,
independently of `events/` (which it must agree with, not reuse).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from engine.simulation import SimConfig, Simulator, write_history

START = datetime(2026, 1, 1, tzinfo=UTC)
SMALL = SimConfig(customers=40, days=30, seed=7)

STR, INT, NUM = "str", "int", "num"
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
    "nps.response": {"customer_id": STR, "score": INT},
    "fx.rate": {"currency": STR, "rate": NUM},
    "usage": {"user_id": STR, "customer_id": STR, "feature": STR},
    "visit": {"visitor_id": STR},
}
OPTIONAL = {
    "plan": STR, "amount": INT, "currency": STR, "interval": STR, "quantity": INT,
    "reason": STR, "invoice_id": STR, "channel": STR,
}  # fmt: skip
INTERVALS = {"day", "week", "month", "quarter", "year"}
CATEGORIES = {"sales", "marketing", "cogs", "opex"}
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def has_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
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
        "score": lambda v: 0 <= v <= 10,
        "rate": lambda v: v > 0,
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


def test_all_event_types_appear(default_events: list[dict[str, Any]]) -> None:
    assert set(Counter(e["type"] for e in default_events)) == set(REQUIRED)


def test_default_volume_is_moderate(default_events: list[dict[str, Any]]) -> None:
    assert 50_000 <= len(default_events) <= 150_000


def test_subscription_lifecycle_is_consistent(default_events: list[dict[str, Any]]) -> None:
    """Only known subscriptions change; pause/resume/trial transitions are legal."""
    state: dict[str, str] = {}
    for e in default_events:
        sub, kind = e.get("subscription_id"), e["type"]
        if kind == "trial.started":
            assert sub not in state
            state[sub] = "trial"
        elif kind == "subscription.started":
            assert state.get(sub, "trial") == "trial", e
            state[sub] = "active"
        elif sub is not None:
            assert state.get(sub) in LEGAL_FROM[kind], e
            state[sub] = AFTER[kind]


LEGAL_FROM = {
    "trial.ended": {"trial"},
    "subscription.changed": {"active"},
    "subscription.paused": {"active"},
    "subscription.resumed": {"paused"},
    "subscription.canceled": {"active", "paused"},
}
AFTER = {
    "trial.ended": "trial_ended",
    "subscription.changed": "active",
    "subscription.paused": "paused",
    "subscription.resumed": "active",
    "subscription.canceled": "canceled",
}


def test_involuntary_cancels_follow_a_failed_payment(default_events: list[dict[str, Any]]) -> None:
    failed: set[str] = set()
    involuntary = 0
    for e in default_events:
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
