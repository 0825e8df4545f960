"""Bounded memory of event ids already applied (the idempotency key, SPEC §2).

Two shapes, both documented in docs/definitions.md:
- `IdsByDay`: every id whose event day is within `keep_days` of the newest day
  seen *from the same source* (input partition). Older events cannot move a
  windowed metric, so forgetting them is safe. The horizon is per source
  because partitions move through event time at their own speed (a backlog is
  read partition by partition): one partition far ahead must not make the
  store forget the ids another one still needs, or the outcome would depend on
  the interleaving. A duplicate is recognised across sources.
- `RecentIds`: the last ~`capacity` ids, in two generations (the older is
  dropped when the newer fills up), for high-volume streams.
"""

from __future__ import annotations


class IdsByDay:
    def __init__(self, keep_days: int = 100) -> None:
        self.keep_days = keep_days
        self._day_of: dict[str, int] = {}
        self._sources: dict[str, _Horizon] = {}

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._day_of

    def add(self, event_id: str, day: int, source: str = "") -> None:
        horizon = self._sources.get(source)
        if horizon is None:
            horizon = self._sources[source] = _Horizon()
        if day <= horizon.latest - self.keep_days:
            return
        self._day_of[event_id] = day
        horizon.by_day.setdefault(day, []).append(event_id)
        if day > horizon.latest:
            horizon.latest = day
            for old in [d for d in horizon.by_day if d <= day - self.keep_days]:
                for expired in horizon.by_day.pop(old):
                    self._day_of.pop(expired, None)

    def __len__(self) -> int:
        return len(self._day_of)


class _Horizon:
    __slots__ = ("latest", "by_day")

    def __init__(self) -> None:
        self.latest = -(10**9)
        self.by_day: dict[int, list[str]] = {}


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
