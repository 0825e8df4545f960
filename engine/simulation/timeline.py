"""Simulated time: one day's events (`DayLog`), events due on later days (`Agenda`), draws.

Everything the simulation emits goes through a `DayLog` as (second of the day,
type, fields); an effect that lands on a later day (a ticket answered tomorrow,
a refund next week) waits in the `Agenda` until that day is generated. Rows sort
by (second, insertion order), so an effect added after its cause at the same
second still comes after it.
"""

from __future__ import annotations

import heapq
import math
import random
from typing import Any

DAY_SECONDS = 86_400
Fields = dict[str, Any]


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth below 30, normal approximation above) from `rng`."""
    if mean <= 0:
        return 0
    if mean >= 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def time_of_day(rng: random.Random) -> int:
    """A second of the day, clustered around business hours UTC."""
    return int(min(max(rng.gauss(14.5, 3.5), 0.05), 23.5) * 3600)


class DayLog:
    """Events of one simulated day, collected out of order and released in `ts` order."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, Fields]] = []

    def add(self, second: int, type_: str, **fields: Any) -> int:
        """Record an event at `second` of the day (clamped into the day); returns the second."""
        second = min(max(second, 0), DAY_SECONDS - 1)
        self.rows.append((second, len(self.rows), {"type": type_, **fields}))
        return second


class Agenda:
    """Events due at a later simulated time (seconds since the start), released by day."""

    def __init__(self) -> None:
        self._due: list[tuple[int, int, str, Fields]] = []
        self._seq = 0

    def add(self, at: int, type_: str, **fields: Any) -> int:
        """Schedule an event at `at` seconds since the start; returns `at`."""
        self._seq += 1
        heapq.heappush(self._due, (at, self._seq, type_, fields))
        return at

    def release(self, day: int, log: DayLog) -> None:
        """Move every event due on `day` (or earlier) into that day's log."""
        end = (day + 1) * DAY_SECONDS
        while self._due and self._due[0][0] < end:
            at, _, type_, fields = heapq.heappop(self._due)
            log.add(at - day * DAY_SECONDS, type_, **fields)
