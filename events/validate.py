"""Static validation of one decoded JSON object (SPEC §2.5, docs/definitions.md).

`check(obj, topic)` returns either the typed event or `(reason, detail)`. It
needs no state: the state rules (`unknown_currency`, `unknown_subscription`)
are applied by the reducers in `tables/`, after the duplicate check.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from events import schema
from events.types import Event, Setter, slot_setters

Failure = tuple[str, str]
Rule = Callable[[Any], bool]

_TS = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_MIN_TS = datetime(1970, 1, 1, tzinfo=UTC).timestamp()
_MAX_TS = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
_DAY = 86400
MAX_AMOUNT = 10**15  # minor units; larger values are typos or attacks, never money
MAX_RATE = 10**9  # reporting units per unit: far above any real rate, far below float limits


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_code(v: Any) -> bool:
    return _CURRENCY.fullmatch(v) is not None


def _is_country(v: Any) -> bool:
    return _COUNTRY.fullmatch(v) is not None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# kind -> (type check, (reason, value check) or None)
_KINDS: dict[str, tuple[Rule, tuple[tuple[str, Rule], ...]]] = {
    "id": (lambda v: isinstance(v, str), (("invalid_value", lambda v: len(v) > 0),)),
    "text": (lambda v: isinstance(v, str), ()),
    "amount": (
        _is_int,
        (("invalid_value", lambda v: v <= MAX_AMOUNT), ("negative_amount", lambda v: v >= 0)),
    ),
    "quantity": (_is_int, (("invalid_quantity", lambda v: v >= 1),)),
    "currency": (lambda v: isinstance(v, str), (("invalid_value", _is_code),)),
    "interval": (lambda v: isinstance(v, str), (("invalid_value", schema.INTERVALS.__contains__),)),
    "category": (
        lambda v: isinstance(v, str),
        (("invalid_value", schema.CATEGORIES.__contains__),),
    ),
    "score": (_is_int, (("invalid_value", lambda v: 0 <= v <= 10),)),
    "csat": (_is_int, (("invalid_value", lambda v: 1 <= v <= 5),)),
    "flag": (lambda v: isinstance(v, bool), ()),
    "country": (lambda v: isinstance(v, str), (("invalid_value", _is_country),)),
    "channel": (lambda v: isinstance(v, str), (("invalid_value", lambda v: 1 <= len(v) <= 64),)),
    "rate": (_is_number, (("invalid_value", lambda v: math.isfinite(v) and 0 < v <= MAX_RATE),)),
}
_VALUE_ORDER = ("invalid_value", "negative_amount", "invalid_quantity")


def parse_ts(text: str) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp with offset, or None if invalid/out of range."""
    if not _TS.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    ts = moment.timestamp()
    return ts if _MIN_TS <= ts < _MAX_TS else None


def _check_common(obj: dict[str, Any]) -> Failure | None:
    for name in ("event_id", "type", "ts"):
        if obj.get(name) is None:
            return "missing_field", name
    for name in ("event_id", "type", "ts"):
        if not isinstance(obj[name], str):
            return "wrong_type", name
    return None


def _check_fields(obj: dict[str, Any], fields: tuple[schema.Field, ...]) -> Failure | None:
    for name, _kind, required in fields:
        if required and obj.get(name) is None:
            return "missing_field", name
    for name, kind, _required in fields:
        value = obj.get(name)
        if value is not None and not _KINDS[kind][0](value):
            return "wrong_type", name
    return None


def _value_rules(fields: tuple[schema.Field, ...]) -> tuple[tuple[str, str, Rule], ...]:
    """The value checks of `fields`, ordered by reason as docs/definitions.md says."""
    rules = [(reason, name, rule) for name, kind, _r in fields for reason, rule in _KINDS[kind][1]]
    return tuple(sorted(rules, key=lambda r: _VALUE_ORDER.index(r[0])))


_RULES = {name: _value_rules(spec.fields) for name, spec in schema.SPECS.items()}


def _check_values(obj: dict[str, Any]) -> Failure | None:
    if not 1 <= len(obj["event_id"]) <= 128:
        return "invalid_value", "event_id"
    for reason, name, rule in _RULES[obj["type"]]:
        value = obj.get(name)
        if value is not None and not rule(value):
            return reason, name
    return None


@dataclass(frozen=True, slots=True)
class _Constructor:
    """How to build one event class from a validated object through its slots
    (`events.types.slot_setters`): the common fields, then its own fields with the
    default that replaces an absent value."""

    common: tuple[Setter, ...]  # event_id, type, ts, day
    own: tuple[tuple[str, Setter, Any], ...]
    rate: Setter | None  # a `rate`: a Fraction built from the JSON number


def _constructor(spec: schema.EventSpec) -> _Constructor:
    defaults = {f.name: f.default for f in dataclasses.fields(spec.cls)}
    setters = slot_setters(spec.cls)
    validated = {name for name, _kind, _required in spec.fields}
    unchecked = [name for name, _set in setters[4:] if name not in validated]
    assert not unchecked, f"{spec.cls.__name__} fields without a rule: {unchecked}"
    assert tuple(name for name, _set in setters[:4]) == ("event_id", "type", "ts", "day")
    own = tuple(
        (name, set_, None if defaults[name] is dataclasses.MISSING else defaults[name])
        for name, set_ in setters[4:]
        if name != "rate"
    )
    rate = next((set_ for name, set_ in setters if name == "rate"), None)
    return _Constructor(tuple(set_ for _name, set_ in setters[:4]), own, rate)


_CONSTRUCTORS = {name: _constructor(spec) for name, spec in schema.SPECS.items()}
_NEW = object.__new__


def _build(obj: dict[str, Any], spec: schema.EventSpec, ts: float) -> Event:
    how = _CONSTRUCTORS[obj["type"]]
    event = _NEW(spec.cls)
    set_id, set_type, set_ts, set_day = how.common
    set_id(event, obj["event_id"])
    set_type(event, obj["type"])
    set_ts(event, ts)
    set_day(event, int(ts // _DAY))
    get = obj.get
    for name, set_, default in how.own:
        value = get(name)
        set_(event, default if value is None else value)
    if how.rate is not None:
        how.rate(event, Fraction(repr(obj["rate"])))
    return event


def check(obj: dict[str, Any], topic: str, allowed_topic: str | None = None) -> Event | Failure:
    """Validate one JSON object arriving on topic suffix `topic`."""
    failure = _check_common(obj)
    if failure:
        return failure
    spec = schema.SPECS.get(obj["type"])
    if spec is None:
        return "unknown_type", obj["type"][:64]
    if spec.topic != (allowed_topic or topic):
        return "wrong_topic", f"{obj['type']} on {topic}"
    failure = _check_fields(obj, spec.fields)
    if failure:
        return failure
    ts = parse_ts(obj["ts"])
    if ts is None:
        return "invalid_ts", obj["ts"][:64]
    failure = _check_values(obj)
    if failure:
        return failure
    return _build(obj, spec, ts)
