"""SPEC v2 series (§3.1, §4): committed MRR, segments, cohorts, support, CSAT, signups.

A mixin of `results.Results`: it reads the Book and the figures Results computed
(MRR, paying customers, windows) and writes samples with `put`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from fractions import Fraction

from tests.reference.book import Book
from tests.reference.rules import SIGN, month_of


class V2Series:
    """The v2 series; the stubs below are the parts of `Results` they use."""

    book: Book
    paying: dict[str, Fraction]
    mrr: Fraction
    max_segments: int

    def put(self, name: str, value: Fraction | int, **labels: str) -> None:
        raise NotImplementedError

    def in_window(self, day: int, days: int) -> bool:
        raise NotImplementedError

    def window_moves(self, customers: set[str]) -> tuple[Counter[str], dict[str, Fraction]]:
        raise NotImplementedError

    def committed_series(self) -> None:
        """Committed MRR = MRR − MRR of scheduled subscriptions; pending = those with MRR > 0."""
        subs = [s for subs in self.book.subs.values() for s in subs.values()]
        scheduled = [s.mrr() for s in subs if s.scheduled and s.mrr() > 0]
        self.put("saas_committed_mrr", self.mrr - sum(scheduled, Fraction(0)))
        self.put("saas_pending_cancellations", len(scheduled))

    def segment_series(self, dimension: str) -> None:
        """SPEC §3.1/§4 v2 segments of one dimension, capped, the rest merged as "other".

        Reading: a cap of N keeps N named segments plus "other" (the union of the
        merged segments' customers). Segments are ranked by MRR now, descending,
        ties by name; "unknown" is a segment like any other. A channel or country
        literally named "other" joins the merged group when there is one.
        """
        book, values = self.book, self.book.attributes[dimension]
        customers = set(book.subs) | set(values) | {m.customer for m in book.movements}
        members: dict[str, set[str]] = defaultdict(set)
        for customer in customers:
            members[values.get(customer, "unknown")].add(customer)
        moved = {m.customer for m in book.movements if self.in_window(m.day, 30)}
        live = {s: cs for s, cs in members.items() if cs & (set(self.paying) | moved)}
        mrr = {
            s: sum((self.paying.get(c, Fraction(0)) for c in cs), Fraction(0))
            for s, cs in live.items()
        }
        ranked = sorted(live, key=lambda s: (-mrr[s], s))
        groups = {s: {s} for s in ranked[: self.max_segments]}
        if ranked[self.max_segments :]:
            groups["other"] = groups.get("other", set()) | set(ranked[self.max_segments :])
        for label, names in groups.items():
            self.segment_figures(dimension, label, names, set().union(*(live[n] for n in names)))

    def segment_figures(
        self, dimension: str, label: str, names: set[str], customers: set[str]
    ) -> None:
        """The version 1 formulas restricted to `customers` (now in the segment)."""
        labels = {"dimension": dimension, "segment": label}
        counts, sums = self.window_moves(customers)
        mrr = sum((self.paying.get(c, Fraction(0)) for c in customers), Fraction(0))
        paying = len(customers & set(self.paying))
        self.put("saas_segment_mrr", mrr, **labels)
        self.put("saas_segment_paying_customers", paying, **labels)
        self.put("saas_segment_new_customers", counts["new"], window="30d", **labels)
        net = sums["new"] + sums["reactivation"] + sums["expansion"]
        net -= sums["contraction"] + sums["churn"]
        mrr_start = mrr - net
        c_start = paying - (counts["new"] + counts["reactivation"] - counts["churn"])
        if c_start != 0:
            rate = Fraction(counts["churn"], c_start)
            self.put("saas_segment_customer_churn_rate", rate, window="30d", **labels)
        if mrr_start != 0:
            kept = mrr_start - sums["churn"] - sums["contraction"] + sums["expansion"]
            self.put("saas_segment_nrr", kept / mrr_start, window="30d", **labels)
        if dimension == "channel" and label != "unknown" and counts["new"]:
            # For "other": the spend carrying any merged channel's name, except
            # "unknown" (docs/definitions.md: a spend tagged "unknown" is nobody's).
            spend = sum(
                (
                    a
                    for d, category, a, channel in self.book.spend
                    if self.in_window(d, 30)
                    and category in ("sales", "marketing")
                    and channel in names - {"unknown"}
                ),
                Fraction(0),
            )
            self.put("saas_segment_cac", spend / counts["new"], window="30d", **labels)

    def cohort_series(self) -> None:
        """SPEC §3.1 v2 cohorts: months month(T)−11 … month(T) with ≥ 1 customer."""
        book = self.book
        if book.asof is None:
            return
        now = month_of(book.asof)
        cohort = {m.customer: month_of(m.ts) for m in book.movements if m.kind == "new"}
        history: dict[str, list[tuple[int, Fraction]]] = defaultdict(list)
        for m in book.movements:
            if m.kind in SIGN:  # involuntary_churn is a subset of churn, not a movement kind
                history[m.customer].append((month_of(m.ts), SIGN[m.kind] * m.amount))

        def end_mrr(customer: str, month: int) -> Fraction:
            """Signed sum of the customer's movements with ts in `month` or earlier."""
            return sum((a for mo, a in history[customer] if mo <= month), Fraction(0))

        for first in range(now - 11, now + 1):
            members = sorted(c for c, m in cohort.items() if m == first)
            if not members:
                continue
            label = {"cohort": f"{first // 12:04d}-{first % 12 + 1:02d}"}
            self.put("saas_cohort_customers", len(members), **label)
            base = sum((end_mrr(c, first) for c in members), Fraction(0))
            for age in range(now - first + 1):
                ends = [end_mrr(c, first + age) for c in members]
                logo = Fraction(sum(e > 0 for e in ends), len(members))
                self.put("saas_cohort_logo_retention", logo, age=str(age), **label)
                if base != 0:
                    kept = sum(ends, Fraction(0)) / base
                    self.put("saas_cohort_mrr_retention", kept, age=str(age), **label)

    def support_series(self) -> None:
        """SPEC §3.1 v2 support, CSAT, signups (30-day window)."""
        book, w = self.book, {"window": "30d"}
        opened = sum(self.in_window(d, 30) for d in book.tickets)
        resolved = [s for d, s in book.resolutions if self.in_window(d, 30)]
        replies = [s for d, s in book.first_replies if self.in_window(d, 30)]
        self.put("saas_tickets_opened", opened, **w)
        self.put("saas_tickets_resolved", len(resolved), **w)
        if opened:
            self.put("saas_ticket_resolution_rate", Fraction(len(resolved), opened), **w)
        hour = 3600
        if resolved:
            mean = sum(resolved, Fraction(0)) / len(resolved) / hour
            self.put("saas_ticket_resolution_hours", mean, **w)
        if replies:
            mean = sum(replies, Fraction(0)) / len(replies) / hour
            self.put("saas_ticket_first_response_hours", mean, **w)
        scores = [s for d, s in book.csat if self.in_window(d, 30)]
        if scores:
            self.put("saas_csat", Fraction(100 * sum(s >= 4 for s in scores), len(scores)), **w)
        # Reading: signups = signup events in W (not distinct user_ids); the rate is a
        # plain ratio (not a percentage) over the unique visitors of the 30-day window.
        signups = sum(self.in_window(d, 30) for d in book.signups)
        self.put("saas_signups", signups, **w)
        visitors = len({v for d, v in book.visits if self.in_window(d, 30)})
        if visitors:
            self.put("saas_visitor_signup_rate", Fraction(signups, visitors), **w)
