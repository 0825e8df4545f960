"""Bytes <-> events with orjson: message decoding, dead letters and facts.

`decode(raw, topic)` never raises: every input becomes events and/or
`Rejection`s. A JSON array is a batch of usage/visit events on `saas.usage`
(SPEC §2.4); each element is judged on its own. The facts the workers exchange
have their own wire format in `events.facts`.
"""

from __future__ import annotations

from typing import Any

import orjson

from events import schema
from events.types import Event, Rejection
from events.validate import check

MAX_MESSAGE_BYTES = 1 << 20


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
