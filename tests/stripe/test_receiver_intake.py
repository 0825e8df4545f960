"""The receiver's pure parts: judging /events bodies, the bearer check, secrets kept out of sight."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.settings import Settings
from engine.stripe import intake
from engine.stripe.receiver import Receiver, ReceiverConfig, _authorized
from events.types import Event, Rejection
from events.validate import check

TS = "2026-11-30T12:00:00Z"
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


@pytest.mark.parametrize(
    ("obj", "suffix", "key"),
    [
        (STARTED, "subscriptions", b"c1"),
        ({"event_id": "p1", "type": "payment.failed", "ts": TS, "customer_id": "c2", "amount": 1, "currency": "EUR"}, "payments", b"c2"),
        ({"event_id": "u1", "type": "usage", "ts": TS, "user_id": "u9", "customer_id": "c1", "feature": "f"}, "usage", b"u9"),
        ({"event_id": "v1", "type": "visit", "ts": TS, "visitor_id": "anon-3"}, "usage", b"anon-3"),
        ({"event_id": "t1", "type": "ticket.opened", "ts": TS, "customer_id": "c4"}, "business", b"c4"),
        ({"event_id": "sp1", "type": "spend", "ts": TS, "category": "sales", "amount": 5, "currency": "USD"}, "business", b"sp1"),
        ({"event_id": "cu1", "type": "customer.updated", "ts": TS, "customer_id": "c5", "country": "FR"}, "subscriptions", b"c5"),
    ],
)  # fmt: skip
def test_accepted_events_get_their_topic_and_key(
    obj: dict[str, Any], suffix: str, key: bytes
) -> None:
    record = intake.judge(obj)
    assert isinstance(record, intake.Record)
    assert (record.suffix, record.key, record.event_id) == (suffix, key, obj["event_id"])
    assert orjson.loads(record.value) == obj  # unknown fields too: forward compatibility


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([STARTED], "not_an_object"),
        ({**STARTED, "type": "subscription.exploded"}, "unknown_type"),
        ({**STARTED, "type": 7}, "wrong_type"),
        ({k: v for k, v in STARTED.items() if k != "plan"}, "missing_field"),
        ({**STARTED, "amount": -1}, "negative_amount"),
        ({**STARTED, "ts": "yesterday"}, "invalid_ts"),
        ({"event_id": "x", "type": "subscription.changed", "ts": TS, "customer_id": "c", "subscription_id": "s", "cancel_at_period_end": 1}, "wrong_type"),
        ({"event_id": "x", "type": "customer.updated", "ts": TS, "customer_id": "c", "country": "fra"}, "invalid_value"),
    ],
)  # fmt: skip
def test_rejections_carry_the_validators_reason(obj: Any, reason: str) -> None:
    result = intake.judge(obj)
    assert isinstance(result, Rejection) and result.reason == reason
    assert intake.outcome(result, obj)["outcome"] == "rejected"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "invalid_json"),
        (b"[]", "empty_batch"),
        (b"3", "not_an_object"),
        (b"null", "not_an_object"),
    ],
)
def test_unusable_bodies(body: bytes, reason: str) -> None:
    with pytest.raises(intake.BodyError) as caught:
        intake.parse_body(body)
    assert caught.value.reason == reason


def test_a_body_is_an_object_or_an_array() -> None:
    assert intake.parse_body(orjson.dumps(STARTED)) == [STARTED]
    assert intake.parse_body(orjson.dumps([STARTED, 1])) == [STARTED, 1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.sampled_from(["e1", "", 3]),
        "type": st.sampled_from(
            ["usage", "signup", "subscription.started", "fx.rate", "nope", None]
        ),
        "ts": st.sampled_from([TS, "2026-13-01T00:00:00Z", 0]),
        "customer_id": st.sampled_from(["c1", "", None]),
        "user_id": st.sampled_from(["u1", 5]),
        "feature": json_values,
        "amount": json_values,
        "currency": st.sampled_from(["USD", "usd"]),
    },
)


@given(obj=st.one_of(fields, json_values))
def test_judge_agrees_with_the_engines_validator(obj: Any) -> None:
    """Accepted exactly when the worker's own static check would accept it; never raises."""
    result = intake.judge(obj)
    if isinstance(result, intake.Record):
        assert isinstance(check(obj, result.suffix), Event)
    else:
        assert isinstance(result, Rejection) and result.reason


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer s3cret", True),
        ("bearer s3cret", True),
        ("Bearer  s3cret ", True),
        ("Bearer s3cre", False),
        ("Bearer s3cret2", False),
        ("Basic s3cret", False),
        ("s3cret", False),
        ("", False),
        (None, False),
        ("Bearer ünïcode", False),
    ],
)
def test_bearer_token(header: str | None, ok: bool) -> None:
    assert _authorized(header, "s3cret") is ok


def test_credentials_stay_out_of_repr_and_come_only_from_the_environment() -> None:
    env = {
        "STREAMKPI_STRIPE_WEBHOOK_SECRET": "whsec_hidden",
        "STREAMKPI_COLLECTOR_TOKEN": "tok_hidden",
    }
    config = ReceiverConfig.from_env(port=9999, environ=env)
    assert (config.webhook_secret, config.collector_token, config.port) == (
        "whsec_hidden",
        "tok_hidden",
        9999,
    )
    receiver = Receiver(Settings(bootstrap="127.0.0.1:9"), config)
    for text in (repr(config), repr(receiver), str(config)):
        assert "hidden" not in text
    assert (
        ReceiverConfig.from_env(environ={"STREAMKPI_STRIPE_WEBHOOK_SECRET": ""}).webhook_secret
        is None
    )
