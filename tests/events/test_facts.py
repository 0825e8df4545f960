"""The facts wire format round-trips every kind of fact (events/facts.py)."""

from __future__ import annotations

from fractions import Fraction

import orjson
import pytest

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
