"""Committed MRR (SPEC §3.1, v2): MRR minus the MRR of subscriptions whose
cancellation is scheduled, and the number of such paying subscriptions.

A schedule is set by `subscription.changed` with `cancel_at_period_end: true`
and cleared by `false`, by the cancel itself and by a new start of the same
subscription (tables/subscriptions.py); this family only sums the change of
scheduled MRR and pending count each event makes.
"""

from __future__ import annotations

from collections.abc import Iterator

from tables.money import Money
from tables.samples import Sample, major_mrr
from tables.subscriptions import Change


class Commitment:
    def __init__(self, minor: int) -> None:
        self.minor = minor
        self.scheduled: Money = 0
        self.pending = 0

    def on_change(self, change: Change) -> None:
        mrr, count = change.scheduled
        self.scheduled += mrr
        self.pending += count

    def samples(self, mrr: Money) -> Iterator[Sample]:
        yield "saas_committed_mrr", (), major_mrr(mrr - self.scheduled, self.minor)
        yield "saas_pending_cancellations", (), float(self.pending)
