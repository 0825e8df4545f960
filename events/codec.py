"""Bytes <-> events with orjson: message decoding, dead letters and facts.

`decode(raw, topic)` never raises: every input becomes events and/or
`Rejection`s. A JSON array is a batch of usage/visit events on `saas.usage`
(SPEC §2.4); each element is judged on its own.

Facts are the validated events re-encoded for the `facts` topic (see
docs/architecture.md): the event's own fields plus the FX rate pinned when it
was applied, so that every worker folds exactly the same numbers.
"""

from __future__ import annotations

from dataclasses import fields
from fractions import Fraction
from typing import Any

import orjson

from events import schema
from events.types import Event, FxRate, Rejection
from events.validate import check

MAX_MESSAGE_BYTES = 1 << 20

_FIELD_NAMES: dict[type[Event], tuple[str, ...]] = {}


def _reject(reason: str, detail: str, raw: bytes) -> Rejection:
    return Rejection(reason, detail, raw)


def _one(obj: Any, topic: str, raw: bytes, allowed: str | None = None) -> Event | Rejection:
    if not isinstance(obj, dict):
        return _reject("not_an_object", type(obj).__name__, raw)
    result = check(obj, topic, allowed)
    if isinstance(result, Event):
        return result
    return _reject(result[0], result[1], raw)


def _batch(items: list[Any], topic: str, raw: bytes) -> list[Event | Rejection]:
    if topic != schema.USAGE:
        return [_reject("not_an_object", "array outside saas.usage", raw)]
    if not items:
        return [_reject("empty_batch", "[]", raw)]
    out: list[Event | Rejection] = []
    for item in items:
        result = _one(item, topic, b"", schema.USAGE)
        if isinstance(result, Rejection):
            result = Rejection(result.reason, result.detail, _element_bytes(item))
        out.append(result)
    return out


def _element_bytes(item: Any) -> bytes:
    """A batch element re-encoded for its dead letter (orjson stops at 254 levels)."""
    try:
        return orjson.dumps(item)
    except (TypeError, orjson.JSONEncodeError):
        return b'"<element nested too deep to re-encode>"'


def decode(
    raw: bytes | None, topic: str, max_bytes: int = MAX_MESSAGE_BYTES
) -> list[Event | Rejection]:
    """Decode one Kafka message value from topic suffix `topic`."""
    raw = raw or b""
    if len(raw) > max_bytes:
        return [_reject("invalid_json", f"message of {len(raw)} bytes > {max_bytes}", raw[:1024])]
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [_reject("invalid_json", str(exc)[:120], raw)]
    if isinstance(obj, list):
        return _batch(obj, topic, raw)
    return [_one(obj, topic, raw)]


def dead_letter(rejection: Rejection, topic: str) -> bytes:
    """The value written to `saas.rejected`: the raw bytes (as text) plus the reason."""
    return orjson.dumps(
        {
            "reason": rejection.reason,
            "detail": rejection.detail,
            "topic": topic,
            "raw": rejection.raw.decode("utf-8", "backslashreplace"),
        }
    )


def _names(cls: type[Event]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def encode_fact(
    event: Event, topic: str, pinned: dict[str, Fraction] | None = None, source: str = ""
) -> bytes:
    """A validated event from topic suffix `topic` as a fact.

    `pinned` maps currency -> the rate used; `source` is the input's
    topic:partition:offset:index, so that every worker knows a re-delivery of
    that input for a replay rather than a duplicate.
    """
    body = {name: getattr(event, name) for name in _names(type(event))}
    if isinstance(event, FxRate):
        body["rate"] = str(event.rate)
    body["_topic"] = topic
    if source:
        body["_src"] = source
    if pinned:
        body["_fx"] = {cur: str(rate) for cur, rate in pinned.items()}
    return orjson.dumps(body)


def decode_fact(body: dict[str, Any]) -> tuple[Event, str, dict[str, Fraction], str]:
    """Inverse of `encode_fact` on the decoded JSON object (facts are written by the engine)."""
    pinned = {cur: Fraction(rate) for cur, rate in body.pop("_fx", {}).items()}
    topic = body.pop("_topic")
    source = body.pop("_src", "")
    spec = schema.SPECS[body["type"]]
    if "rate" in body:
        body["rate"] = Fraction(body["rate"])
    return spec.cls(**body), topic, pinned, source
