"""Run Stripe events through the pure mapping, as the receiver and `import` do."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.stripe.mapping import Translation, translate
from engine.stripe.memory import Memory

Body = dict[str, Any]
COMMON = ("event_id", "ts", "customer_id", "subscription_id")


def deliver(events: Iterable[Body], memory: Memory | None = None) -> list[Translation]:
    """Translate in the given order, committing each result (acks assumed)."""
    memory = Memory() if memory is None else memory
    results = []
    for event in events:
        result = translate(event, memory)
        memory.commit(result.updates)
        results.append(result)
    return results


def bodies(result: Translation) -> list[Body]:
    """The derived events without their common fields: what a rule table compares."""
    return [{k: v for k, v in e.items() if k not in COMMON} for e in result.events]


def derived(results: Iterable[Translation]) -> list[Body]:
    return [event for result in results for event in result.events]
