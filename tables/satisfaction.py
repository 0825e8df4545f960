"""Customer satisfaction (SPEC §3, §3.1): NPS over 90 days and (v2) CSAT over 30 days.

NPS = % of responses 9–10 minus % of responses 0–6 (−100…100); CSAT = % of
responses scoring 4 or 5 (0…100). Day sums of counts only.
"""

from __future__ import annotations

from collections.abc import Iterator

from events import types as t
from tables.ledger import Ledger
from tables.samples import W30, Sample, optional, ratio

NPS_N, PROMOTERS, DETRACTORS = "nps.n", "nps.promoters", "nps.detractors"
CSAT_N, SATISFIED = "csat.n", "csat.satisfied"
KEYS = (NPS_N, PROMOTERS, DETRACTORS, CSAT_N, SATISFIED)


class Satisfaction:
    def __init__(self) -> None:
        self._days = Ledger()

    def book_nps(self, event: t.NpsResponse) -> None:
        self._days.add(event.day, NPS_N)
        if event.score >= 9:
            self._days.add(event.day, PROMOTERS)
        elif event.score <= 6:
            self._days.add(event.day, DETRACTORS)

    def book_csat(self, event: t.CsatResponse) -> None:
        self._days.add(event.day, CSAT_N)
        if event.score >= 4:
            self._days.add(event.day, SATISFIED)

    def samples(self, asof_day: int | None) -> Iterator[Sample]:
        w90 = self._days.window(asof_day, 90, KEYS)
        nps = ratio(100 * (w90[PROMOTERS] - w90[DETRACTORS]), w90[NPS_N])
        yield from optional("saas_nps", (("window", "90d"),), nps)
        w30 = self._days.window(asof_day, 30, KEYS)
        yield from optional("saas_csat", W30, ratio(100 * w30[SATISFIED], w30[CSAT_N]))
