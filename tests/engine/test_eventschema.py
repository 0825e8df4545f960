"""The published JSON Schemas (docs/schemas/) agree with the engine's validator.

On the whole bad-input corpus of tests/events/test_corpus.py, a message is
refused by the schemas exactly when `events.codec.decode` refuses it, except
for the few rules a JSON Schema cannot express (listed in docs/events.md and
in ENGINE_ONLY below, each checked to be the engine being stricter).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from engine import eventschema
from events import schema
from events import types as t
from events.codec import MAX_MESSAGE_BYTES, decode
from tests.events.templates import TEMPLATES
from tests.events.test_corpus import CORPUS, Case

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
ANY = Draft202012Validator(json.loads((SCHEMAS / "event.schema.json").read_text()))
BATCH = Draft202012Validator(json.loads((SCHEMAS / "usage-batch.schema.json").read_text()))
TS = "2026-03-01T12:00:00Z"

# corpus case -> why only the engine refuses it
ENGINE_ONLY = {
    "ts-february-30": "a real calendar date",
    "ts-2100-in-utc-by-offset": "before 2100-01-01 in UTC, after applying the offset",
    "ts-before-1970-in-utc-by-offset": "after 1970-01-01 in UTC, after applying the offset",
    "amount-float": "an integer written without a decimal point (49.0)",
    "amount-exponent-float": "an integer written without an exponent (4.9e3)",
    "quantity-float": "an integer written without a decimal point (1.0)",
    "csat-score-float": "an integer written without a decimal point (4.0)",
}


def _strict_json(raw: bytes) -> Any:
    """RFC 8259 JSON as a careful producer would check it: strict UTF-8 (no BOM), no
    NaN/Infinity, no lone surrogates."""

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    obj = json.loads(raw.decode("utf-8"), parse_constant=refuse)
    json.dumps(obj, ensure_ascii=False).encode("utf-8")  # lone surrogates raise here
    return obj


def schema_verdicts(raw: bytes | None, topic: str) -> list[bool]:
    """Per decoded item, whether the schemas (plus the documented size and topic
    rules) accept it: what a producer can check before sending."""
    raw = raw or b""
    if len(raw) > MAX_MESSAGE_BYTES:
        return [False]
    try:
        obj = _strict_json(raw)
    except (ValueError, RecursionError):
        return [False]
    if isinstance(obj, list):
        if topic != schema.USAGE or not obj:
            return [False]
        return [_accepts(item, topic) for item in obj]
    return [_accepts(obj, topic)]


def _accepts(obj: Any, topic: str) -> bool:
    if not ANY.is_valid(obj):
        return False
    declared = ANY.schema["$defs"][obj["type"]]["x-topic"]
    return bool(declared == "saas." + topic)


def engine_verdicts(case: Case) -> list[bool]:
    return [isinstance(item, t.Event) for item in decode(case.raw, case.topic)]


def _cases() -> list[Case]:
    cases = [p.values[0] if hasattr(p, "values") else p for p in CORPUS]
    return [c for c in cases if not c.state]  # state rules need the engine's memory


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.id)
def test_schemas_and_validator_agree_on_the_corpus(case: Case) -> None:
    engine = engine_verdicts(case)
    published = schema_verdicts(case.raw, case.topic)
    if case.id in ENGINE_ONLY:
        assert engine == [False] and published == [True], ENGINE_ONLY[case.id]
    else:
        assert published == engine


def test_engine_only_cases_are_in_the_corpus() -> None:
    assert set(ENGINE_ONLY) <= {c.id for c in _cases()}


@pytest.mark.parametrize("name", sorted(schema.SPECS))
def test_every_valid_event_is_accepted_by_its_schema(name: str) -> None:
    body = {"event_id": "e1", "type": name, "ts": TS, **TEMPLATES[name]}
    one = Draft202012Validator(json.loads((SCHEMAS / f"{name}.schema.json").read_text()))
    assert one.is_valid(body), list(one.iter_errors(body))
    assert schema_verdicts(json.dumps(body).encode(), schema.SPECS[name].topic) == [True]
    assert engine_verdicts(Case("ok", json.dumps(body).encode(), schema.SPECS[name].topic, ()))
    assert one.schema["x-topic"] == "saas." + schema.SPECS[name].topic


def test_optional_null_is_absent_and_a_batch_is_judged_per_element() -> None:
    body = {"event_id": "e1", "type": "spend", "ts": TS, **TEMPLATES["spend"], "channel": None}
    assert ANY.is_valid(body)
    visit = {"event_id": "v", "type": "visit", "ts": TS, "visitor_id": "v1"}
    assert BATCH.is_valid([visit]) and not BATCH.is_valid([]) and not BATCH.is_valid([body])


def test_generated_files_are_up_to_date() -> None:
    """Run `python -m engine.eventschema docs/schemas` after changing events/schema.py."""
    assert eventschema.stale(SCHEMAS) == []
