"""Bounded memory of event ids already applied (the idempotency key, SPEC §2).

Two shapes, both documented in docs/definitions.md:
- `IdsByDay`: every id whose event day is within `keep_days` of the newest day
  seen. Older events cannot move a windowed metric, so forgetting them is safe.
- `RecentIds`: the last ~`capacity` ids, in two generations (the older is
  dropped when the newer fills up), for high-volume streams.
"""

from __future__ import annotations


class IdsByDay:
    def __init__(self, keep_days: int = 100) -> None:
        self.keep_days = keep_days
        self._day_of: dict[str, int] = {}
        self._by_day: dict[int, list[str]] = {}
        self._latest = -(10**9)

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._day_of

    def add(self, event_id: str, day: int) -> None:
        if day <= self._latest - self.keep_days:
            return
        self._day_of[event_id] = day
        self._by_day.setdefault(day, []).append(event_id)
        if day > self._latest:
            self._latest = day
            self._expire()

    def _expire(self) -> None:
        for day in [d for d in self._by_day if d <= self._latest - self.keep_days]:
            for event_id in self._by_day.pop(day):
                self._day_of.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._day_of)


class RecentIds:
    def __init__(self, capacity: int = 200_000) -> None:
        self._half = max(1, capacity // 2)
        self._new: set[str] = set()
        self._old: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self._new or key in self._old

    def add(self, key: str) -> None:
        self._new.add(key)
        if len(self._new) >= self._half:
            self._old, self._new = self._new, set()

    def __len__(self) -> int:
        return len(self._new) + len(self._old)
