"""JSON Schemas (draft 2020-12) of every event type, generated from `events.schema`.

Producers in any language can validate an event before sending it. The
schemas say what a schema can say: fields, types, ranges, patterns, the topic
(`x-topic`) and the message key (`x-key`). What only the engine can check is
listed in docs/events.md: calendar dates and the 1970..2099 range of `ts`
after its offset, integers written as `49.0`, the 1 MiB message limit, and the
state rules (unknown currency, subscription or ticket).

    python -m engine.eventschema docs/schemas    # rewrite the files
    python -m engine.eventschema --check docs/schemas
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from events import schema
from events.validate import MAX_AMOUNT, MAX_RATE

DRAFT = "https://json-schema.org/draft/2020-12/schema"
TS = (
    r"^(19[7-9][0-9]|20[0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]"
    r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
U64 = 2**64 - 1  # a larger integer is a float for the engine's JSON parser (wrong_type)
STRING: dict[str, Any] = {"type": "string"}
KINDS: dict[str, dict[str, Any]] = {
    "id": {"type": "string", "minLength": 1},
    "text": STRING,
    "amount": {"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT},
    "quantity": {"type": "integer", "minimum": 1, "maximum": U64},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3},
    "interval": {"type": "string", "enum": sorted(schema.INTERVALS)},
    "category": {"type": "string", "enum": sorted(schema.CATEGORIES)},
    "score": {"type": "integer", "minimum": 0, "maximum": 10},
    "csat": {"type": "integer", "minimum": 1, "maximum": 5},
    "flag": {"type": "boolean"},
    "country": {"type": "string", "pattern": "^[A-Z]{2}$", "minLength": 2, "maxLength": 2},
    "channel": {"type": "string", "minLength": 1, "maxLength": 64},
    "rate": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_RATE},
}
KEYS = {
    schema.SUBSCRIPTIONS: "customer_id",
    schema.PAYMENTS: "customer_id",
    schema.BUSINESS: "customer_id, else event_id",
    schema.USAGE: "user_id (visit: visitor_id)",
}


def _field(kind: str, required: bool) -> dict[str, Any]:
    """A field's schema; an optional field may be null (the engine treats null as absent)."""
    if kind not in KINDS:
        raise KeyError(f"events.schema kind {kind!r} has no JSON Schema: add it to KINDS")
    body = dict(KINDS[kind])
    if not required:
        body["type"] = [body["type"], "null"]
    return body


def event_schema(name: str, prefix: str = "saas.") -> dict[str, Any]:
    """The JSON Schema of one event type."""
    spec = schema.SPECS[name]
    properties: dict[str, Any] = {
        "event_id": {"type": "string", "minLength": 1, "maxLength": 128},
        "type": {"const": name},
        "ts": {"type": "string", "pattern": TS},
    }
    for field, kind, required in spec.fields:
        properties[field] = _field(kind, required)
    required_fields = ["event_id", "type", "ts", *(f for f, _k, r in spec.fields if r)]
    return {
        "$schema": DRAFT,
        "$id": f"{name}.schema.json",
        "title": name,
        "type": "object",
        "x-topic": prefix + spec.topic,
        "x-key": KEYS[spec.topic],
        "properties": properties,
        "required": required_fields,
        "additionalProperties": True,
    }


def _inline(name: str) -> dict[str, Any]:
    body = event_schema(name)
    body.pop("$schema")
    body.pop("$id")
    return body


def any_event_schema() -> dict[str, Any]:
    """One JSON object of any type (what a message on its topic may hold)."""
    names = sorted(schema.SPECS)
    return {
        "$schema": DRAFT,
        "$id": "event.schema.json",
        "title": "any streamkpi event",
        "oneOf": [{"$ref": f"#/$defs/{n}"} for n in names],
        "$defs": {n: _inline(n) for n in names},
    }


def batch_schema() -> dict[str, Any]:
    """A usage batch: a non-empty JSON array of usage/visit events (saas.usage only)."""
    names = sorted(n for n, spec in schema.SPECS.items() if spec.topic == schema.USAGE)
    return {
        "$schema": DRAFT,
        "$id": "usage-batch.schema.json",
        "title": "usage batch",
        "x-topic": "saas." + schema.USAGE,
        "type": "array",
        "minItems": 1,
        "items": {"oneOf": [{"$ref": f"#/$defs/{n}"} for n in names]},
        "$defs": {n: _inline(n) for n in names},
    }


def files() -> dict[str, bytes]:
    """File name -> content of every generated schema."""
    out = {f"{n}.schema.json": event_schema(n) for n in sorted(schema.SPECS)}
    out["event.schema.json"] = any_event_schema()
    out["usage-batch.schema.json"] = batch_schema()
    option = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    return {name: orjson.dumps(body, option=option) + b"\n" for name, body in out.items()}


def stale(directory: Path) -> list[str]:
    """Generated files that are missing or differ in `directory`, and extra old ones."""
    wanted = files()
    wrong = [n for n, body in wanted.items() if _read(directory / n) != body]
    extra = [p.name for p in directory.glob("*.schema.json") if p.name not in wanted]
    return sorted(wrong + extra)


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def write(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.schema.json"):
        old.unlink()
    for name, body in files().items():
        (directory / name).write_bytes(body)
    return len(files())


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if not a.startswith("--")] or ["docs/schemas"]
    directory = Path(paths[0])
    if check:
        wrong = stale(directory)
        if wrong:
            print(f"{directory}: out of date: {', '.join(wrong)}", file=sys.stderr)
            return 1
        return 0
    print(f"wrote {write(directory)} schemas to {directory}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
