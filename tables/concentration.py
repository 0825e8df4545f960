"""Revenue concentration over paying customers: top-k shares and the Herfindahl index.

An order-statistics structure (a sorted multiset of customer MRR) is updated in
O(log n) per change; shares are read at scrape time in O(k). Exact: values are
integers or fractions, never floats, until the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from sortedcontainers import SortedList

from tables.money import Money
from tables.samples import Sample, optional


class Concentration:
    def __init__(self) -> None:
        self._values: SortedList = SortedList()
        self._sum: Money = 0
        self._squares: Money = 0

    def update(self, old: Money, new: Money) -> None:
        """A customer's MRR moved from `old` to `new` (0 = not paying)."""
        if old == new:
            return
        if old > 0:
            self._values.remove(old)
            self._sum -= old
            self._squares -= old * old
        if new > 0:
            self._values.add(new)
            self._sum += new
            self._squares += new * new

    def top_share(self, count: int) -> float | None:
        """Share of MRR held by the `count` largest customers; None without MRR."""
        if not self._sum or count <= 0:
            return None
        top = sum(self._values[-count:], start=0)
        return float(Fraction(top) / Fraction(self._sum))

    def top_percent_count(self, percent: int) -> int:
        """⌈percent % × n⌉ customers."""
        return -(-len(self._values) * percent // 100)

    def hhi(self) -> float | None:
        if not self._sum:
            return None
        return float(Fraction(self._squares) / (Fraction(self._sum) ** 2))

    def __len__(self) -> int:
        return len(self._values)

    def samples(self) -> Iterator[Sample]:
        """Top ⌈20 %⌉ and top-10 shares and the HHI; none while nobody pays."""
        yield from optional(
            "saas_mrr_top_share", (("top", "20pct"),), self.top_share(self.top_percent_count(20))
        )
        yield from optional("saas_mrr_top_share", (("top", "10"),), self.top_share(10))
        yield from optional("saas_mrr_hhi", (), self.hhi())
