"""Per-day sums in event time, and window sums over them.

Every windowed KPI of SPEC §3 is a sum over the UTC days day(T)−(n−1) … day(T)
of per-day sums, so one running aggregate per day is all the state a window
needs (never the raw events). Buckets older than the longest window are
dropped; a late event older than that changes no window and is not stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from tables.money import Money

WINDOWS: dict[str, int] = {"1d": 1, "7d": 7, "14d": 14, "30d": 30, "90d": 90}
KEEP_DAYS = 100


class Ledger:
    """Day index -> {key: sum}."""

    def __init__(self) -> None:
        self._days: dict[int, dict[str, Money]] = {}
        self._latest = -(10**9)

    def add(self, day: int, key: str, amount: Money = 1) -> None:
        if day <= self._latest - KEEP_DAYS:
            return
        bucket = self._days.get(day)
        if bucket is None:
            bucket = self._days[day] = {}
            self._advance(day)
        bucket[key] = bucket.get(key, 0) + amount

    def _advance(self, day: int) -> None:
        if day <= self._latest:
            return
        self._latest = day
        for old in [d for d in self._days if d <= day - KEEP_DAYS]:
            del self._days[old]

    def window(self, asof_day: int | None, days: int, keys: Iterable[str]) -> dict[str, Money]:
        """Sums of `keys` over the `days` days ending at `asof_day` (all 0 without T)."""
        sums: dict[str, Money] = dict.fromkeys(keys, 0)
        if asof_day is None:
            return sums
        for day in range(asof_day - days + 1, asof_day + 1):
            bucket = self._days.get(day)
            if bucket:
                for key in sums:
                    sums[key] += bucket.get(key, 0)
        return sums
