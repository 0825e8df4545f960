"""Paying customers indexed by the last day they used the product: at-risk in O(log n).

At-risk (SPEC §3) counts paying customers with no usage event in the 14 days
ending at the as-of day. Scanning every customer per scrape cost O(customers)
(~0.1 s per report at 1M customers); here a sorted multiset holds the last
usage day of each paying customer (`NEVER` if none), so a count is one bisect
and every change is O(log n).
"""

from __future__ import annotations

from sortedcontainers import SortedList

NEVER = -(10**9)


class Recency:
    def __init__(self) -> None:
        self.last_day: dict[str, int] = {}
        self._paying: set[str] = set()
        self._days: SortedList = SortedList()

    def set_paying(self, customer_id: str, paying: bool) -> None:
        """The customer started (True) or stopped (False) paying."""
        if paying == (customer_id in self._paying):
            return
        day = self.last_day.get(customer_id, NEVER)
        if paying:
            self._paying.add(customer_id)
            self._days.add(day)
        else:
            self._paying.discard(customer_id)
            self._days.remove(day)

    def use(self, customer_id: str, day: int) -> None:
        """A usage event of the customer on `day` (the latest day is kept; idempotent)."""
        before = self.last_day.get(customer_id, NEVER)
        if day <= before:
            return
        self.last_day[customer_id] = day
        if customer_id in self._paying:
            self._days.remove(before)
            self._days.add(day)

    def idle(self, first_day: int | None) -> int:
        """Paying customers whose last usage is before `first_day` (None: all paying)."""
        if first_day is None:
            return len(self._days)
        return int(self._days.bisect_left(first_day))

    def at_risk(self, asof_day: int | None, days: int = 14) -> int:
        """Paying customers with no usage event in the `days`-day window ending at `asof_day`."""
        return self.idle(None if asof_day is None else asof_day - days + 1)
