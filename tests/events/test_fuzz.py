"""Issue 7: fuzzing the decoder and the fold (hypothesis).

`decode` never raises and always answers with a non-empty list of
`Event | Rejection`; a decoded event always has the checked types of its
dataclass (SPEC §2, docs/definitions.md); `Store.apply` never raises, and an
event it does not apply (rejected or duplicate) moves no sample.

These fuzzers found two engine bugs (a foreign or null `amount` compared with
10**15, and an unbounded `fx.rate` overflowing the export); both are fixed and
nothing is tolerated here any more.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import schema
from events import types as t
from events.codec import decode
from tables.report import report
from tables.store import Store
from tests.events.templates import STATE_REASONS, STATIC_REASONS, TEMPLATES

TS = "2026-03-01T12:00:00Z"
TOPICS = list(schema.INPUT_TOPICS)
MIN_TS, MAX_TS = 0.0, 4102444800.0  # 1970-01-01 .. 2100-01-01 UTC
COMMON = ("event_id", "type", "ts")
FIELD_NAMES = sorted({name for spec in schema.SPECS.values() for name, _k, _r in spec.fields})
assert set(TEMPLATES) == set(schema.SPECS)

# -- independent checks of a decoded event (not validate._KINDS) ---------------------
_KIND_OK = {
    "id": lambda v: type(v) is str and v != "",
    "text": lambda v: type(v) is str,
    "amount": lambda v: type(v) is int and 0 <= v <= 10**15,
    "quantity": lambda v: type(v) is int and v >= 1,
    "currency": lambda v: type(v) is str and len(v) == 3 and all("A" <= c <= "Z" for c in v),
    "interval": lambda v: v in {"day", "week", "month", "quarter", "year"},
    "category": lambda v: v in {"sales", "marketing", "cogs", "opex"},
    "score": lambda v: type(v) is int and 0 <= v <= 10,
    "csat": lambda v: type(v) is int and 1 <= v <= 5,
    "flag": lambda v: type(v) is bool,
    "country": lambda v: type(v) is str and len(v) == 2 and all("A" <= c <= "Z" for c in v),
    "channel": lambda v: type(v) is str and 1 <= len(v) <= 64,
    "rate": lambda v: type(v) is Fraction and v > 0,
}
# The JSON type a field of each kind must have, and values of other JSON types.
_JSON_TYPE_OK = {
    "id": lambda v: isinstance(v, str),
    "text": lambda v: isinstance(v, str),
    "currency": lambda v: isinstance(v, str),
    "interval": lambda v: isinstance(v, str),
    "category": lambda v: isinstance(v, str),
    "amount": lambda v: type(v) is int,
    "quantity": lambda v: type(v) is int,
    "score": lambda v: type(v) is int,
    "csat": lambda v: type(v) is int,
    "flag": lambda v: type(v) is bool,
    "country": lambda v: isinstance(v, str),
    "channel": lambda v: isinstance(v, str),
    "rate": lambda v: type(v) in (int, float),
}


def assert_well_typed(event: t.Event, topic: str) -> None:
    spec = schema.SPECS[event.type]
    assert type(event) is spec.cls
    assert spec.topic == topic
    assert type(event.event_id) is str and 1 <= len(event.event_id) <= 128
    assert type(event.ts) is float and MIN_TS <= event.ts < MAX_TS
    assert event.day == int(event.ts // 86400)
    names = {f.name for f in event.__dataclass_fields__.values()}  # type: ignore[attr-defined]
    assert names == {*COMMON, "day", *(name for name, _k, _r in spec.fields)}
    for name, kind, required in spec.fields:
        value = getattr(event, name)
        if value is None:
            assert not required, (name, event)
        else:
            assert _KIND_OK[kind](value), (name, value, event)


def assert_valid_answer(items: Any, topic: str) -> None:
    assert isinstance(items, list) and items
    for item in items:
        if isinstance(item, t.Rejection):
            assert item.reason in STATIC_REASONS, item
            assert isinstance(item.detail, str) and isinstance(item.raw, bytes)
        else:
            assert isinstance(item, t.Event), item
            assert_well_typed(item, topic)


def _dumps(value: Any) -> bytes:
    """Any JSON value as text, with big integers, NaN and Infinity as literals."""
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


# -- strategies --------------------------------------------------------------------------
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(2**64), 2**65)
    | st.floats()
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(FIELD_NAMES + list(COMMON)), children, max_size=5
        )
    ),
    max_leaves=20,
)
INTERESTING = [
    None, True, False, 0, 1, -1, 11, -0.0, 0.0, 1.5, 49.0, 2**63 - 1, -(2**63), 2**64,
    10**15, 10**15 + 1, float("nan"), float("inf"), 1e300, 5e-324, "", "x" * 129, "USD",
    "usd", "EUR", "JPY", "decade", "month", "fun", "sales", "4900", "2026-03-01T12:00:00",
    "2026-03-01 12:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z",
    "2026-03-01t12:00:00.123456789z", "2026-03-01T12:00:00+05:30", [], {}, [4900], {"a": 1},
    "subscription.started", "usage", "visit", "fx.rate", "payment.succeeded",
]  # fmt: skip
values = st.sampled_from(INTERESTING) | json_values
keys = st.sampled_from(sorted({*COMMON, *FIELD_NAMES})) | st.text(max_size=6)


@st.composite
def mutated(
    draw: st.DrawFn, max_ops: int = 3
) -> tuple[dict[str, Any], str, list[tuple[str, str, Any]]]:
    """A valid event of a random type with 1..max_ops mutations: drop a field or set it."""
    type_ = draw(st.sampled_from(sorted(TEMPLATES)))
    obj: dict[str, Any] = {"event_id": "e1", "type": type_, "ts": TS, **TEMPLATES[type_]}
    ops: list[tuple[str, str, Any]] = []
    for _ in range(draw(st.integers(1, max_ops))):
        key = draw(st.sampled_from(sorted(obj)) | keys)
        if draw(st.booleans()) and key in obj:
            del obj[key]
            ops.append(("drop", key, None))
        else:
            obj[key] = draw(values)
            ops.append(("set", key, obj[key]))
    return obj, type_, ops


def _expected_single(type_: str, op: tuple[str, str, Any]) -> str | None:
    """The reason (or "event") one mutation of a valid event must give, if simply known."""
    action, key, value = op
    spec = schema.SPECS[type_]
    own = {name: (kind, required) for name, kind, required in spec.fields}
    if action == "set":
        try:
            value = orjson.loads(_dumps(value))  # as the decoder sees it: 2**64 is a float
        except orjson.JSONDecodeError:
            return "invalid_json"  # NaN, Infinity or a number beyond a double, anywhere
    if key == "type":
        return None
    if key in COMMON:
        if action == "drop" or value is None:
            return "missing_field"
        return "wrong_type" if not isinstance(value, str) else None
    if key not in own:
        return "event"  # unknown fields are ignored
    kind, required = own[key]
    if action == "drop" or value is None:
        return "missing_field" if required else "event"
    if not _JSON_TYPE_OK[kind](value):
        return "wrong_type"
    return None


# -- tests -------------------------------------------------------------------------------
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID_BYTES = [
    orjson.dumps({"event_id": "e1", "type": k, "ts": TS, **v}) for k, v in TEMPLATES.items()
]


@FAST
@given(st.binary(max_size=512), st.sampled_from(TOPICS))
def test_arbitrary_bytes_never_raise(raw: bytes, topic: str) -> None:
    assert_valid_answer(decode(raw, topic), topic)


@FAST
@given(
    st.sampled_from(VALID_BYTES),
    st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 255), st.sampled_from("xid")), max_size=4
    ),
    st.sampled_from(TOPICS),
)
def test_byte_mutations_of_valid_messages_never_raise(
    raw: bytes, edits: list[tuple[int, int, str]], topic: str
) -> None:
    data = bytearray(raw)
    for pos, byte, action in edits:
        pos %= len(data) + 1
        if action == "x" and pos < len(data):
            data[pos] = byte
        elif action == "i":
            data[pos:pos] = bytes([byte])
        else:
            del data[pos : pos + 1]
    items = decode(bytes(data), topic)
    if items is not None:
        assert_valid_answer(items, topic)


@FAST
@given(json_values, st.sampled_from(TOPICS))
def test_arbitrary_json_values_never_raise(value: Any, topic: str) -> None:
    raw = _dumps(value)
    items = decode(raw, topic)
    assert_valid_answer(items, topic)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        assert [r.reason for r in items] == ["invalid_json"]  # type: ignore[union-attr]
        return
    if isinstance(parsed, list) and topic == schema.USAGE:
        assert len(items) == max(1, len(parsed))
    elif isinstance(parsed, list) or not isinstance(parsed, dict):
        assert [r.reason for r in items] == ["not_an_object"]  # type: ignore[union-attr]


@FAST
@given(mutated(), st.sampled_from(TOPICS + [None] * 4), st.booleans())
def test_mutated_events_never_raise_and_decode_well_typed(
    case: tuple[dict[str, Any], str, list[tuple[str, str, Any]]],
    topic_or_own: str | None,
    as_batch: bool,
) -> None:
    obj, type_, _ops = case
    topic = topic_or_own or schema.SPECS[type_].topic
    payload: Any = [obj] if as_batch and topic == schema.USAGE else obj
    items = decode(_dumps(payload), topic)
    if items is not None:
        assert_valid_answer(items, topic)


@FAST
@given(mutated(max_ops=1), st.booleans())
def test_one_mutation_gives_the_documented_reason(
    case: tuple[dict[str, Any], str, list[tuple[str, str, Any]]], as_batch: bool
) -> None:
    obj, type_, [op] = case
    topic = schema.SPECS[type_].topic
    payload: Any = [obj] if as_batch and topic == schema.USAGE else obj
    items = decode(_dumps(payload), topic)
    assert_valid_answer(items, topic)
    expected = _expected_single(type_, op)
    if expected is not None:
        [item] = items
        assert (item.reason if isinstance(item, t.Rejection) else "event") == expected, (op, item)


SMALL_IDS = ["e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"]


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[bytes, str]]:
    """Valid and mutated events over a few customers, subscriptions, ids and currencies."""
    out = []
    for _ in range(draw(st.integers(1, 25))):
        type_ = draw(st.sampled_from(sorted(TEMPLATES)))
        obj: dict[str, Any] = {**TEMPLATES[type_], "type": type_}
        obj["event_id"] = draw(st.sampled_from(SMALL_IDS))
        obj["ts"] = f"2026-03-{draw(st.integers(1, 28)):02d}T{draw(st.integers(0, 23)):02d}:00:00Z"
        for name in ("customer_id", "subscription_id"):
            if name in obj:
                obj[name] = draw(st.sampled_from(["c1", "c2", "s1", "s2"]))
        if "currency" in obj:
            obj["currency"] = draw(st.sampled_from(["USD", "EUR", "JPY", "BHD"]))
        if "amount" in obj:
            obj["amount"] = draw(st.integers(0, 10**15) | st.just(10**15))
        if "rate" in obj:
            obj["rate"] = draw(
                st.sampled_from([1.08, 0.0067, 5e-324, 1e300]) | st.floats(1e-9, 1e9)
            )
        if "interval" in obj:
            obj["interval"] = draw(st.sampled_from(["day", "week", "month", "quarter", "year"]))
        for _ in range(draw(st.integers(0, 1))):
            key = draw(keys)
            obj[key] = draw(values)
        topic = schema.SPECS[type_].topic
        out.append((_dumps(obj), topic))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_applying_any_decoded_events_never_raises(history: list[tuple[bytes, str]]) -> None:
    store = Store()
    applied_ts: list[float] = []
    for raw, topic in history:
        items = decode(raw, topic)
        for item in items:
            if isinstance(item, t.Rejection):
                continue
            before = report(store)
            outcome = store.apply(item, topic)
            assert outcome.status in ("applied", "duplicate", "rejected"), outcome
            if outcome.status == "rejected":
                assert outcome.reason in STATE_REASONS
            if outcome.status != "applied":
                assert report(store) == before
                continue
            applied_ts.append(item.ts)
    assert store.asof == (max(applied_ts) if applied_ts else None)
    assert store.mrr.total == sum((c.mrr for c in store.customers.values()), start=0)
    assert store.mrr.paying == sum(1 for c in store.customers.values() if c.mrr > 0)
    assert store.mrr.total == sum(store.mrr.plans.values(), start=0)
    report(store)
