"""An independent, literal batch recomputation of SPEC §3/§4 (the test oracle).

Integration tests feed the same JSONL file to the engine and to `compute()` and
compare the scraped /metrics page with the result. Everything here is written
from ../shared/SPEC.md and docs/definitions.md alone: it imports nothing from
`events/`, `tables/` or `engine/`, keeps every raw event it applies, recomputes
each KPI from those lists at the end, and does all arithmetic with `int` and
`Fraction` until the final `float`. It is meant to be obviously right, not fast.

SPEC v2 (customer attributes and segments, cohorts, committed MRR, tickets,
CSAT, signups, burn multiple, the plan cap) is covered the same way. Where
SPEC leaves room, the reading taken here is written next to the code as
"Reading:"; docs/definitions.md is meant to say the same.

Layout: `rules` (decoding, routing, static validation), `book` (applying
events: duplicates, state rules, subscriptions, tickets), `results` (the
version 1 series) with its mixin `v2` (the version 2 series), `exposition`
(reading a /metrics page, `diff`).
"""

from __future__ import annotations

from collections.abc import Iterable

from tests.reference.book import Book
from tests.reference.exposition import approximate, diff, parse_exposition
from tests.reference.results import Results, sample_key
from tests.reference.rules import _decode, parse_ts, route, validate

__all__ = [
    "approximate",
    "compute",
    "diff",
    "parse_exposition",
    "parse_ts",
    "route",
    "sample_key",
    "validate",
]


def compute(
    lines: Iterable[bytes | str],
    *,
    currency: str = "USD",
    max_features: int = 50,
    max_plans: int = 50,
    max_segments: int = 20,
    prefix: str = "saas.",
) -> dict[str, float]:
    """Every Prometheus sample the engine must export after reading `lines`."""
    book = Book(currency)
    for line in lines:
        if not line.strip():
            continue
        ok, value = _decode(line)
        if not ok:
            book.rejected["invalid_json"] += 1
            continue
        suffix = route(value)
        batch = value if isinstance(value, list) else [value]
        if not batch:
            book.rejected["empty_batch"] += 1
        for element in batch:
            if isinstance(element, dict):
                book.handle(element, suffix, prefix + suffix)
            else:
                book.rejected["not_an_object"] += 1
    return Results(book, max_features, max_plans, max_segments).all()
