"""Revenue concentration over paying customers: top-k shares and the Herfindahl index.

A sorted multiset of customer MRR (counts per distinct value) is updated in
O(1), O(log n) when a value appears or disappears; shares are read at scrape
time in O(k). Exact: values are integers or fractions, never floats, until the
result.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from sortedcontainers import SortedList

from tables.money import Money
from tables.samples import Sample, optional


class Concentration:
    """Paying customers' MRR as value -> how many customers have it, plus the distinct
    values in order: most changes move a customer between values others already
    have (plan prices × quantities), which costs two dict updates; the sorted list
    only changes when a value appears or disappears."""

    def __init__(self) -> None:
        self._count: dict[Money, int] = {}
        self._distinct: SortedList = SortedList()
        self._customers = 0
        self._sum: Money = 0
        self._squares: Money = 0

    def update(self, old: Money, new: Money) -> None:
        """A customer's MRR moved from `old` to `new` (0 = not paying)."""
        if old == new:
            return
        if old > 0:
            left = self._count[old] - 1
            if left:
                self._count[old] = left
            else:
                del self._count[old]
                self._distinct.remove(old)
            self._customers -= 1
            self._sum -= old
            self._squares -= old * old
        if new > 0:
            had = self._count.get(new, 0)
            if not had:
                self._distinct.add(new)
            self._count[new] = had + 1
            self._customers += 1
            self._sum += new
            self._squares += new * new

    def top_share(self, count: int) -> float | None:
        """Share of MRR held by the `count` largest customers; None without MRR."""
        if not self._sum or count <= 0:
            return None
        top: Money = 0
        for value in reversed(self._distinct):
            taken = min(count, self._count[value])
            top += taken * value
            count -= taken
            if not count:
                break
        return float(Fraction(top) / Fraction(self._sum))

    def top_percent_count(self, percent: int) -> int:
        """⌈percent % × n⌉ customers."""
        return -(-self._customers * percent // 100)

    def hhi(self) -> float | None:
        if not self._sum:
            return None
        return float(Fraction(self._squares) / (Fraction(self._sum) ** 2))

    def __len__(self) -> int:
        return self._customers

    def samples(self) -> Iterator[Sample]:
        """Top ⌈20 %⌉ and top-10 shares and the HHI; none while nobody pays."""
        yield from optional(
            "saas_mrr_top_share", (("top", "20pct"),), self.top_share(self.top_percent_count(20))
        )
        yield from optional("saas_mrr_top_share", (("top", "10"),), self.top_share(10))
        yield from optional("saas_mrr_hhi", (), self.hhi())
