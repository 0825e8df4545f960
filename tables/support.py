"""Support (SPEC §3, §3.1): tickets per paying customer, and (v2) tickets opened and
resolved, resolution rate, mean resolution time and mean first-response time.

A ticket is (`customer_id`, `ticket_id`). Only open tickets are kept: their open
time and whether they were answered. A reply or resolution of a ticket that is
not open is refused (`unknown_ticket`) before anything changes. Durations are
booked on the day of the reply/resolution, in whole microseconds (exact sums),
a negative duration as 0. An open ticket is forgotten 365 days after it was
opened (measured on the newest `ts` this family has seen), as SPEC allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from events import types as t
from tables.ledger import Ledger
from tables.samples import W30, Sample, optional, ratio

OPENED, RESOLVED, RESOLVE_US = "opened", "resolved", "resolve_us"
REPLIED, REPLY_US = "replied", "reply_us"
KEYS = (OPENED, RESOLVED, RESOLVE_US, REPLIED, REPLY_US)
FORGET_AFTER = 365 * 86400
US_PER_HOUR = 3_600_000_000


@dataclass(slots=True)
class Ticket:
    opened: float
    answered: bool = False


def _micros(start: float, end: float) -> int:
    return max(0, round((end - start) * 1_000_000))


class Support:
    def __init__(self) -> None:
        self._days = Ledger()
        self.open: dict[tuple[str, str], Ticket] = {}
        self._newest = 0.0
        self._swept_day = 0

    def refusal(self, event: t.TicketReplied | t.TicketResolved) -> str | None:
        """`unknown_ticket` when the ticket is not open, else None (checked before booking)."""
        return None if (event.customer_id, event.ticket_id) in self.open else "unknown_ticket"

    def book_opened(self, event: t.TicketOpened) -> None:
        self._days.add(event.day, OPENED)
        if event.ticket_id is not None:
            self.open.setdefault((event.customer_id, event.ticket_id), Ticket(event.ts))
        self._advance(event)

    def book_replied(self, event: t.TicketReplied) -> None:
        ticket = self.open[(event.customer_id, event.ticket_id)]
        if not ticket.answered:
            ticket.answered = True
            self._days.add(event.day, REPLIED)
            self._days.add(event.day, REPLY_US, _micros(ticket.opened, event.ts))
        self._advance(event)

    def book_resolved(self, event: t.TicketResolved) -> None:
        ticket = self.open.pop((event.customer_id, event.ticket_id))
        self._days.add(event.day, RESOLVED)
        self._days.add(event.day, RESOLVE_US, _micros(ticket.opened, event.ts))
        self._advance(event)

    def _advance(self, event: t.Event) -> None:
        """Forget tickets opened more than 365 days before the newest ts, once a day."""
        self._newest = max(self._newest, event.ts)
        if event.day <= self._swept_day:
            return
        self._swept_day = event.day
        horizon = self._newest - FORGET_AFTER
        for key in [k for k, ticket in self.open.items() if ticket.opened < horizon]:
            del self.open[key]

    def samples(self, asof_day: int | None, paying: int) -> Iterator[Sample]:
        w = self._days.window(asof_day, 30, KEYS)
        yield from optional("saas_tickets_per_customer", W30, ratio(w[OPENED], paying))
        yield "saas_tickets_opened", W30, float(w[OPENED])
        yield "saas_tickets_resolved", W30, float(w[RESOLVED])
        yield from optional("saas_ticket_resolution_rate", W30, ratio(w[RESOLVED], w[OPENED]))
        yield from optional(
            "saas_ticket_resolution_hours", W30, ratio(w[RESOLVE_US], w[RESOLVED] * US_PER_HOUR)
        )
        yield from optional(
            "saas_ticket_first_response_hours", W30, ratio(w[REPLY_US], w[REPLIED] * US_PER_HOUR)
        )
