"""The facts wire format round-trips every kind of fact (events/facts.py)."""

from __future__ import annotations

from fractions import Fraction

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import facts
from events import types as t
from tests.events.templates import TEMPLATES
from tests.tables.helpers import ev


def round_trip(fact: facts.Fact) -> facts.Fact:
    return facts.decode(orjson.loads(facts.encode(fact)))


def test_applied_fact_keeps_pinned_rate_topic_and_source() -> None:
    event = ev("fx.rate", currency="EUR", rate=1.0842)
    assert isinstance(event, t.FxRate) and event.rate == Fraction("1.0842")
    fact = facts.Applied(event, "business", {"EUR": Fraction(3, 2)}, "t:1:7:0")
    assert round_trip(fact) == fact
    assert facts.source_of(orjson.loads(facts.encode(fact))) == "t:1:7:0"


@pytest.mark.parametrize("type_", sorted(TEMPLATES))
def test_every_event_type_round_trips_as_a_fact(type_: str) -> None:
    fact = facts.Applied(ev(type_, **TEMPLATES[type_]), "x", {}, "")
    assert round_trip(fact) == fact


@pytest.mark.parametrize(
    "fact",
    [
        facts.Rejected("unknown_ticket", "saas.business:3:17:0"),
        facts.Duplicate("payments", "saas.payments:0:5:2"),
        facts.UsageNote([("c1", 20500), ("c2", 20501)]),
    ],
)
def test_counting_facts_round_trip_and_carry_no_source(fact: facts.Fact) -> None:
    assert round_trip(fact) == fact
    assert facts.source_of(orjson.loads(facts.encode(fact))) == ""


def test_input_key_names_the_partition_it_came_from() -> None:
    key = facts.input_key("saas.usage", 3, 1200, 7)
    assert key == "saas.usage:3:1200:7"
    assert facts.partition_of(key) == "saas.usage:3"


# -- the wire format is the one older workers wrote (a topic upgraded mid-stream) --

# A fact of an earlier session's engine, byte for byte as it sits in a facts topic.
OLD_FACT = (
    b'{"event_id":"s2-0","type":"subscription.started","ts":1769731200.0,"day":20483,'
    b'"customer_id":"cust-1853","subscription_id":"sub-1853-1","plan":"starter",'
    b'"amount":2900,"currency":"USD","interval":"month","quantity":1,'
    b'"_topic":"subscriptions","_src":"t.saas.subscriptions:0:0:0","_fx":{"EUR":"271/250"}}'
)


def test_a_fact_written_by_an_earlier_engine_decodes_and_encodes_to_the_same_bytes() -> None:
    fact = facts.decode(orjson.loads(OLD_FACT))
    assert isinstance(fact, facts.Applied)
    assert fact.event == t.SubscriptionStarted(
        "s2-0", "subscription.started", 1769731200.0, 20483,
        "cust-1853", "sub-1853-1", "starter", 2900, "USD", "month", 1,
    )  # fmt: skip
    assert (fact.topic, fact.source) == ("subscriptions", "t.saas.subscriptions:0:0:0")
    assert fact.pinned == {"EUR": Fraction(271, 250)}
    assert facts.encode(fact) == OLD_FACT


def test_a_decoded_event_is_equal_and_hashes_like_a_constructed_one() -> None:
    """Facts build events without their __init__ (events/facts.py `_make_builder`)."""
    event = ev("subscription.changed", customer_id="c1", subscription_id="s1", amount=900)
    decoded = round_trip(facts.Applied(event, "subscriptions", {}, "k"))
    assert isinstance(decoded, facts.Applied)
    assert type(decoded.event) is type(event) and decoded.event == event
    assert hash(decoded.event) == hash(event) and {decoded.event, event} == {event}
    with pytest.raises(AttributeError):  # still frozen
        decoded.event.amount = 1  # type: ignore[misc]


def test_a_fact_missing_a_field_with_a_default_gets_the_default() -> None:
    """A fact written before a field was added to its event type."""
    body = orjson.loads(facts.encode(facts.Applied(ev("subscription.started", **{
        "customer_id": "c1", "subscription_id": "s1", "plan": "pro", "amount": 100,
        "currency": "USD", "interval": "month", "quantity": 4,
    }), "subscriptions", {}, "")))  # fmt: skip
    del body["quantity"]
    fact = facts.decode(body)
    assert isinstance(fact, facts.Applied) and isinstance(fact.event, t.SubscriptionStarted)
    assert fact.event.quantity == 1 and fact.event.amount == 100


def test_a_body_that_is_no_fact_is_an_error() -> None:
    with pytest.raises((ValueError, KeyError)):
        facts.decode({"type": "nope"})
    with pytest.raises(KeyError):
        facts.decode({"type": "nope", "_topic": "x"})


def test_equal_rate_texts_share_one_parsed_fraction() -> None:
    assert facts.fraction("1.0842") is facts.fraction("1.0842") == Fraction("1.0842")
    assert facts.fraction("3/2") == Fraction(3, 2)


_maybe = st.none() | st.text(max_size=5)


@settings(max_examples=200, deadline=None)
@given(
    plan=_maybe,
    amount=st.none() | st.integers(-(2**40), 2**40),
    currency=_maybe,
    quantity=st.none() | st.integers(0, 1000),
    cancel=st.none() | st.booleans(),
    rates=st.dictionaries(st.sampled_from(["EUR", "GBP", "JPY"]), st.fractions(min_value=0)),
)
def test_any_subscription_change_round_trips(  # type: ignore[no-untyped-def]
    plan, amount, currency, quantity, cancel, rates
) -> None:
    event = t.SubscriptionChanged(
        "e1", "subscription.changed", 1.5e9, 17361, "c", "s",
        plan, amount, currency, None, quantity, cancel,
    )  # fmt: skip
    fact = facts.Applied(event, "subscriptions", rates, "saas.subscriptions:1:2:3")
    assert round_trip(fact) == fact
