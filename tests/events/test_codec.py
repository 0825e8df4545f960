"""Decoding and validation: every rejection reason of SPEC §2.5 and docs/definitions.md."""

from __future__ import annotations

import orjson
import pytest

from events import types as t
from events.codec import decode

TS = "2026-03-01T12:00:00Z"
STARTED = {
    "event_id": "e1",
    "type": "subscription.started",
    "ts": TS,
    "customer_id": "c1",
    "subscription_id": "s1",
    "plan": "pro",
    "amount": 4900,
    "currency": "USD",
    "interval": "month",
}


def one(obj: object, topic: str = "subscriptions") -> t.Event | t.Rejection:
    raw = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    [result] = decode(raw, topic)
    return result


def reason(obj: object, topic: str = "subscriptions") -> str:
    result = one(obj, topic)
    assert isinstance(result, t.Rejection), result
    return result.reason


def test_valid_started_is_typed_and_defaults_quantity() -> None:
    event = one(STARTED)
    assert isinstance(event, t.SubscriptionStarted)
    assert (event.amount, event.quantity, event.interval) == (4900, 1, "month")
    assert event.ts == 1772366400.0 and event.day == 20513


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"amount": -1}, "negative_amount"),
        ({"amount": "4900"}, "wrong_type"),
        ({"amount": 49.0}, "wrong_type"),
        ({"amount": True}, "wrong_type"),
        ({"amount": 10**16}, "invalid_value"),
        ({"quantity": 0}, "invalid_quantity"),
        ({"quantity": 1.5}, "wrong_type"),
        ({"interval": "fortnight"}, "invalid_value"),
        ({"currency": "usd"}, "invalid_value"),
        ({"type": "subscription.exploded"}, "unknown_type"),
        ({"type": "payment.succeeded"}, "wrong_topic"),
        ({"ts": "2026-03-01 12:00:00"}, "invalid_ts"),
        ({"ts": "2026-03-01"}, "invalid_ts"),
        ({"ts": "9999-01-01T00:00:00Z"}, "invalid_ts"),
        ({"ts": "1969-12-31T23:59:59Z"}, "invalid_ts"),
        ({"ts": "2026-02-30T00:00:00Z"}, "invalid_ts"),
        ({"ts": 1772366400}, "wrong_type"),
        ({"event_id": ""}, "invalid_value"),
        ({"event_id": "x" * 129}, "invalid_value"),
        ({"event_id": None}, "missing_field"),
        ({"plan": None}, "missing_field"),
        ({"plan": ""}, "invalid_value"),
    ],
)
def test_rejection_reasons(change: dict[str, object], expected: str) -> None:
    assert reason({**STARTED, **change}) == expected


def test_missing_required_field() -> None:
    body = dict(STARTED)
    del body["customer_id"]
    assert reason(body) == "missing_field"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"not json", "invalid_json"),
        (b'{"a": NaN}', "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[" * 2000 + b"]" * 2000, "invalid_json"),
        (b"[" * 100 + b"]" * 100, "not_an_object"),
        (b"42", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b"", "invalid_json"),
    ],
)
def test_undecodable_messages(raw: bytes, expected: str) -> None:
    assert reason(raw) == expected


def test_oversized_message_is_rejected_without_parsing() -> None:
    [result] = decode(b" " * (2 << 20), "usage")
    assert isinstance(result, t.Rejection) and result.reason == "invalid_json"
    assert len(result.raw) <= 1024


def test_batch_elements_are_judged_alone() -> None:
    good = {
        "event_id": "u1",
        "type": "usage",
        "ts": TS,
        "user_id": "u",
        "customer_id": "c",
        "feature": "api",
    }
    visit = {"event_id": "v1", "type": "visit", "ts": TS, "visitor_id": "v"}
    results = decode(orjson.dumps([good, 7, {**good, "feature": 3}, STARTED, visit]), "usage")
    kinds = [r.reason if isinstance(r, t.Rejection) else type(r).__name__ for r in results]
    assert kinds == ["Usage", "not_an_object", "wrong_type", "wrong_topic", "Visit"]


def test_empty_batch_and_batch_outside_usage() -> None:
    assert reason(b"[]", "usage") == "empty_batch"
    assert reason(b"[]", "business") == "not_an_object"


def test_unknown_fields_are_ignored() -> None:
    assert isinstance(one({**STARTED, "coupon": "X", "nested": {"a": [1]}}), t.SubscriptionStarted)


@pytest.mark.parametrize("optional", ["all", "none"])
def test_validated_events_equal_their_init_built_twins_and_stay_frozen(optional: str) -> None:
    """The validator builds events through their slots (events.types.slot_setters):
    the result must be the event `__init__` makes, defaults included, and frozen."""
    import dataclasses

    from events import schema
    from tests.events.templates import TEMPLATES

    for name, body in TEMPLATES.items():
        spec = schema.SPECS[name]
        required = {field for field, _kind, needed in spec.fields if needed}
        kept = {k: v for k, v in body.items() if optional == "all" or k in required}
        event = one({"event_id": "e1", "type": name, "ts": TS, **kept}, spec.topic)
        assert isinstance(event, t.Event), (name, event)
        given = {k: v for k, v in kept.items() if k != "rate"}
        twin = spec.cls(event_id="e1", type=name, ts=event.ts, day=event.day, **given,
                        **({"rate": event.rate} if "rate" in kept else {}))  # type: ignore[attr-defined]  # fmt: skip
        assert event == twin and hash(event) == hash(twin), name
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.event_id = "changed"  # type: ignore[misc]
