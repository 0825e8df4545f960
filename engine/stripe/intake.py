"""Judge the body of `POST /events` (SPEC §6 "HTTP collector"): pure, no I/O.

An app that cannot produce to Kafka posts a JSON event, or a JSON array of
events, of SPEC §2. Each event is judged on its own with the engine's own
static validator (`events.validate.check`, SPEC §2.5) and becomes either a
record for its topic and key (SPEC §1, the same routing as `streamkpi
ingest`) or a rejection with its reason. State rules (`unknown_subscription`,
`unknown_currency`, `unknown_ticket`) need the engine's state and are decided
by the workers, which count them like any other input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from events import schema
from events.types import Event, Rejection
from events.validate import check


@dataclass(frozen=True, slots=True)
class Record:
    """One accepted event, ready for Kafka: topic suffix, key and value."""

    suffix: str
    key: bytes | None
    value: bytes
    event_id: str


class BodyError(ValueError):
    """The body as a whole is unusable (answered 400, nothing produced)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_body(body: bytes) -> list[Any]:
    """The events of a body: one object, or the elements of an array."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError("invalid_json", str(exc)[:120]) from None
    if isinstance(obj, list):
        if not obj:
            raise BodyError("empty_batch", "[]")
        return obj
    if isinstance(obj, dict):
        return [obj]
    raise BodyError("not_an_object", type(obj).__name__)


def key_of(obj: dict[str, Any], suffix: str) -> bytes | None:
    """The Kafka key of an event (SPEC §1): user_id (or visitor_id) on usage,
    else customer_id, else the event's own event_id (business events)."""
    names = ("user_id", "visitor_id") if suffix == schema.USAGE else ("customer_id", "event_id")
    for name in names:
        value = obj.get(name)
        if isinstance(value, str) and value:
            return value.encode()
    return None


def judge(obj: Any) -> Record | Rejection:
    """A record for Kafka, or the reason the engine would reject `obj` statically."""
    if not isinstance(obj, dict):
        return Rejection("not_an_object", type(obj).__name__, _raw(obj))
    kind = obj.get("type")
    suffix = schema.topic_of(kind) if isinstance(kind, str) else None
    result = check(obj, suffix or schema.BUSINESS)
    if not isinstance(result, Event):
        return Rejection(result[0], result[1], _raw(obj))
    assert suffix is not None  # check() accepts only known types
    return Record(suffix, key_of(obj, suffix), _raw(obj), result.event_id)


def _raw(obj: Any) -> bytes:
    """The element re-encoded (orjson refuses depth > 254 and huge ints)."""
    try:
        return orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError):
        return b'"<element orjson cannot re-encode>"'


def outcome(item: Record | Rejection, obj: Any) -> dict[str, Any]:
    """The per-event line of the response body."""
    event_id = obj.get("event_id") if isinstance(obj, dict) else None
    line: dict[str, Any] = {"event_id": event_id if isinstance(event_id, str) else None}
    if isinstance(item, Record):
        line["outcome"] = "accepted"
    else:
        line.update(outcome="rejected", reason=item.reason, detail=item.detail)
    return line
