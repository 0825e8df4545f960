"""FX rate history: the rate of a currency in effect at an event time.

SPEC §3: an amount converts with the latest `fx.rate` whose `ts` ≤ the event's
`ts`. Rates are kept per currency, sorted by (ts, arrival), so a late rate with
an old `ts` still lands in its place. Idempotent: a rate event seen twice is
stored once.
"""

from __future__ import annotations

import bisect
from fractions import Fraction

ONE = Fraction(1)  # immutable: one shared instance (Fraction() costs about a microsecond)
_AFTER_EVERY_ARRIVAL = (float("inf"), Fraction(0))


class FxRates:
    """Per-currency rate history with lookup by event time."""

    def __init__(self, reporting: str) -> None:
        self.reporting = reporting
        self._history: dict[str, list[tuple[float, int, Fraction]]] = {}
        self._seen: set[str] = set()
        self._arrivals = 0

    def add(self, event_id: str, currency: str, ts: float, rate: Fraction) -> bool:
        """Record a rate; False if this event was already recorded."""
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        self._arrivals += 1
        bisect.insort(self._history.setdefault(currency, []), (ts, self._arrivals, rate))
        return True

    def rate_at(self, currency: str, ts: float) -> Fraction | None:
        """Reporting-currency units per major unit of `currency` at `ts`, or None if unknown."""
        if currency == self.reporting:
            return ONE
        history = self._history.get(currency)
        if not history:
            return None
        index = bisect.bisect_right(history, (ts, *_AFTER_EVERY_ARRIVAL)) - 1
        return history[index][2] if index >= 0 else None
