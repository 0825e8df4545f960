"""The acquisition funnel (SPEC §3, §3.1): trials and their conversion, leads and
their conversion, product sign-ups and the visitor → sign-up rate.

Trial counters come from subscription changes (a `trial.started`, a first
`subscription.started` of a trial, a `trial.ended`); leads and sign-ups are
business events. Day sums only, never raw events.
"""

from __future__ import annotations

from collections.abc import Iterator

from events import types as t
from tables.ledger import Ledger
from tables.samples import W30, Sample, optional, ratio
from tables.subscriptions import Change

TRIALS, CONVERSIONS, TRIALS_ENDED = "trials", "conversions", "trials_ended"
LEADS, SIGNUPS = "leads", "signups"
KEYS = (TRIALS, CONVERSIONS, TRIALS_ENDED, LEADS, SIGNUPS)


class Funnel:
    def __init__(self) -> None:
        self._days = Ledger()

    def on_change(self, day: int, change: Change) -> None:
        if not (change.trial_started or change.converted or change.trial_ended):
            return  # most changes are not trial steps
        for flag, key in (
            (change.trial_started, TRIALS),
            (change.converted, CONVERSIONS),
            (change.trial_ended, TRIALS_ENDED),
        ):
            if flag:
                self._days.add(day, key)

    def book_lead(self, event: t.Event) -> None:
        self._days.add(event.day, LEADS)

    def book_signup(self, event: t.Event) -> None:
        self._days.add(event.day, SIGNUPS)

    def samples(
        self, asof_day: int | None, new_customers: int, visitors: float | None
    ) -> Iterator[Sample]:
        """30-day funnel gauges; `new_customers` = #new movements, `visitors` = unique
        visitors (30 d) from the usage side, None when usage is not reported."""
        w = self._days.window(asof_day, 30, KEYS)
        yield "saas_trials_started", W30, float(w[TRIALS])
        conversion = ratio(w[CONVERSIONS], w[CONVERSIONS] + w[TRIALS_ENDED])
        yield from optional("saas_trial_conversion_rate", W30, conversion)
        yield "saas_leads", W30, float(w[LEADS])
        yield from optional("saas_lead_conversion_rate", W30, ratio(new_customers, w[LEADS]))
        yield "saas_signups", W30, float(w[SIGNUPS])
        if visitors is not None:
            yield from optional("saas_visitor_signup_rate", W30, ratio(w[SIGNUPS], round(visitors)))
