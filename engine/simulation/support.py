"""The support desk and the surveys: tickets, replies, resolutions, CSAT, NPS.

A ticket's whole life is decided when it is opened and scheduled on the
`Agenda`: a first reply within hours (median ~2.5 h), sometimes a follow-up
reply, the resolution within days (median ~1 day after the first reply; ~3 %
stay open), a `csat.response` from about a third of the resolved tickets (worse
after a slow resolution), and ~4 % reopened (`ticket.opened` with the same
`ticket_id`), answered and resolved again. Every time is strictly later than
the one before it, so a reply or resolution is only ever sent to an open
ticket. Disengaged and dunned customers write more tickets.
"""

from __future__ import annotations

import random

from engine.simulation.accounts import Customer
from engine.simulation.timeline import DAY_SECONDS, Agenda, DayLog, time_of_day

HOUR = 3600


class Support:
    """Opens tickets each day and schedules everything that follows from them."""

    def __init__(self, rng: random.Random, agenda: Agenda) -> None:
        self.rng, self.agenda = rng, agenda
        self.tickets = 0

    def day(self, day: int, log: DayLog, customers: list[Customer]) -> None:
        """Tickets and NPS answers of the day's live customers."""
        rng = self.rng
        for cust in customers:
            live = cust.live()
            if not live:
                continue
            dunned = any(sub.failures for sub in live)
            if rng.random() < 0.009 + 0.012 * (1 - cust.engagement) + 0.05 * dunned:
                self._open(day * DAY_SECONDS + time_of_day(rng), cust.id)
            if rng.random() < 0.006:
                score = round(min(max(rng.gauss(3.5 + 6.5 * cust.engagement, 1.8), 0), 10))
                log.add(time_of_day(rng), "nps.response", customer_id=cust.id, score=score)

    def _open(self, at: int, customer: str) -> None:
        self.tickets += 1
        ticket = f"t-{self.tickets:07d}"
        resolved = self._thread(at, customer, ticket)
        if resolved is None:
            return
        if self.rng.random() < 0.04:
            reopened = resolved + self.rng.randint(HOUR, 4 * 24 * HOUR)
            self._thread(reopened, customer, ticket)
        elif self.rng.random() < 0.33:
            self._survey(resolved, resolved - at, customer)

    def _thread(self, at: int, customer: str, ticket: str) -> int | None:
        """Open, reply (once or twice), resolve; the resolution time, or None if it stays open."""
        rng, ids = self.rng, {"customer_id": customer, "ticket_id": ticket}
        self.agenda.add(at, "ticket.opened", **ids)
        t = at + _clamp(rng.lognormvariate(9.1, 0.9), 300, 3 * 24 * HOUR)  # e^9.1 s ~ 2.5 h
        self.agenda.add(t, "ticket.replied", **ids)
        if rng.random() < 0.03:
            return None
        resolve = t + _clamp(rng.lognormvariate(11.2, 1.0), 600, 14 * 24 * HOUR)  # ~20 h
        if rng.random() < 0.3:
            self.agenda.add((t + resolve) // 2, "ticket.replied", **ids)
        return self.agenda.add(resolve, "ticket.resolved", **ids)

    def _survey(self, resolved: int, took: int, customer: str) -> None:
        """A CSAT answer some time after the resolution; slow resolutions score worse."""
        rng = self.rng
        happy = max(0.45, 0.93 - 0.06 * took / (24 * HOUR))
        if rng.random() < happy:
            score = 5 if rng.random() < 0.6 else 4
        else:
            score = rng.choices((1, 2, 3), (1, 2, 4))[0]
        at = resolved + rng.randint(600, 30 * HOUR)
        self.agenda.add(at, "csat.response", customer_id=customer, score=score)


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(max(value, low), high))
