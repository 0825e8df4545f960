"""The facts wire format: what one worker tells every other worker (docs/architecture.md).

Every input a worker owns becomes one fact in the `facts` topic: the event it
applied (with the FX rates it pinned), the rejection or the duplicate it
counted, or the customers its usage partition saw active. Every worker folds
all facts, so all export the same global numbers. This module is the one
place that knows how a fact looks on the wire and how an input is named.

An input is named by its *input key* `topic:partition:offset:index` (index =
position inside a batch message): the idempotency key of rejection and
duplicate counts, and the proof that a fact read back is this worker's own.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

import orjson

from events import schema
from events.types import Event, FxRate


@dataclass(frozen=True, slots=True)
class Applied:
    """An accepted event from input topic suffix `topic`, with the rates it pinned."""

    event: Event
    topic: str
    pinned: dict[str, Fraction]
    source: str  # the input key, "" when unknown


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    key: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    topic: str
    key: str


@dataclass(frozen=True, slots=True)
class UsageNote:
    """Customers seen using the product, with the day: feeds at-risk on every worker."""

    activity: list[tuple[str, int]]


Fact = Applied | Rejected | Duplicate | UsageNote
_FIELD_NAMES: dict[type[Event], tuple[str, ...]] = {}


def input_key(topic: str, partition: int, offset: int, index: int) -> str:
    return f"{topic}:{partition}:{offset}:{index}"


def partition_of(key: str) -> str:
    """The `topic:partition` part of an input key (the horizon of the id memory)."""
    return key.rsplit(":", 2)[0]


def _names(cls: type[Event]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _body(fact: Fact) -> dict[str, Any]:
    if isinstance(fact, Rejected):
        return {"_reject": fact.reason, "_key": fact.key}
    if isinstance(fact, Duplicate):
        return {"_dup": fact.topic, "_key": fact.key}
    if isinstance(fact, UsageNote):
        return {"_usage": fact.activity}
    body = {name: getattr(fact.event, name) for name in _names(type(fact.event))}
    if isinstance(fact.event, FxRate):
        body["rate"] = str(fact.event.rate)
    body["_topic"] = fact.topic
    if fact.source:
        body["_src"] = fact.source
    if fact.pinned:
        body["_fx"] = {cur: str(rate) for cur, rate in fact.pinned.items()}
    return body


def encode(fact: Fact) -> bytes:
    return orjson.dumps(_body(fact))


def decode(body: dict[str, Any]) -> Fact:
    """Inverse of `encode` on the decoded JSON object (facts are written by the engine)."""
    if "_reject" in body:
        return Rejected(body["_reject"], body["_key"])
    if "_dup" in body:
        return Duplicate(body["_dup"], body["_key"])
    if "_usage" in body:
        return UsageNote([(customer, day) for customer, day in body["_usage"]])
    values = dict(body)
    pinned = {cur: Fraction(rate) for cur, rate in values.pop("_fx", {}).items()}
    topic = values.pop("_topic")
    source = values.pop("_src", "")
    if "rate" in values:
        values["rate"] = Fraction(values["rate"])
    return Applied(schema.SPECS[values["type"]].cls(**values), topic, pinned, source)


def source_of(body: dict[str, Any]) -> str:
    """The input key of an applied-event fact body, without decoding the event."""
    source: str = body.get("_src", "")
    return source
