"""Recomputes every SPEC §4 series from a Book (version 1 here, v2 in `v2.py`)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from fractions import Fraction

from tests.reference.book import Book
from tests.reference.rules import ACTIVITY_WINDOWS, KINDS, MOVEMENT_WINDOWS, day_of
from tests.reference.v2 import V2Series


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _to_float(value: Fraction | int) -> float:
    """The gauge value; ±inf beyond float range (e.g. 2**64 minor units x rate 1e308)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def sample_key(name: str, **labels: str) -> str:
    """`name{a="x",b="y"}` with labels sorted by name, or `name` alone."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


class Results(V2Series):
    """Recomputes every SPEC §4 series from a Book."""

    def __init__(self, book: Book, max_features: int, max_plans: int, max_segments: int) -> None:
        self.book = book
        self.max_features = max_features
        self.max_plans = max_plans
        self.max_segments = max_segments
        self.out: dict[str, Fraction | int] = {}
        self.customer_mrr = {c: book.customer_mrr(c) for c in book.subs}
        self.paying = {c: m for c, m in self.customer_mrr.items() if m > 0}
        self.mrr = sum(self.paying.values(), Fraction(0))
        self.arpa = self.mrr / len(self.paying) if self.paying else None
        self.last_day = None if book.asof is None else day_of(book.asof)

    def put(self, name: str, value: Fraction | int, **labels: str) -> None:
        self.out[sample_key(name, **labels)] = value

    def in_window(self, day: int, days: int) -> bool:
        """`day` lies in the `days`-day window ending on day(T) (inclusive)."""
        if self.last_day is None:
            return False
        return self.last_day - days + 1 <= day <= self.last_day

    def moved(self, kind: str, days: int) -> tuple[int, Fraction]:
        """(count, amount) of movements of `kind` in the window."""
        found = [
            m.amount for m in self.book.movements if m.kind == kind and self.in_window(m.day, days)
        ]
        return len(found), sum(found, Fraction(0))

    def window_moves(self, customers: set[str]) -> tuple[Counter[str], dict[str, Fraction]]:
        """(count, amount) per kind of the 30-day movements of `customers`."""
        counts: Counter[str] = Counter()
        sums: dict[str, Fraction] = defaultdict(Fraction)
        for m in self.book.movements:
            if m.customer in customers and self.in_window(m.day, 30):
                counts[m.kind] += 1
                sums[m.kind] += m.amount
        return counts, sums

    def all(self) -> dict[str, float]:
        self.mrr_series()
        self.movement_series()
        self.churn_series()
        self.money_series()
        self.activity_series()
        self.customer_series()
        self.committed_series()
        for dimension in self.book.attributes:
            self.segment_series(dimension)
        self.cohort_series()
        self.support_series()
        self.counter_series()
        return {k: _to_float(v) for k, v in self.out.items()}

    def mrr_series(self) -> None:
        self.put("saas_mrr", self.mrr)
        self.put("saas_arr", 12 * self.mrr)
        self.put("saas_paying_customers", len(self.paying))
        if self.arpa is not None:
            self.put("saas_arpa", self.arpa)
        plan_mrr: dict[str, Fraction] = defaultdict(Fraction)
        plan_customers: dict[str, set[str]] = defaultdict(set)
        for customer, subs in self.book.subs.items():
            for sub in subs.values():
                if sub.mrr() > 0:
                    plan_mrr[sub.plan] += sub.mrr()
                    plan_customers[sub.plan].add(customer)
        # SPEC §4 v2: the top max_plans plans by MRR (ties by name), the rest under "other".
        # Reading: plan="other" customers is the sum of the merged plans' counts ("summed").
        ranked = sorted(plan_mrr, key=lambda p: (-plan_mrr[p], p))
        groups = {p: [p] for p in ranked[: self.max_plans]}
        if ranked[self.max_plans :]:
            groups["other"] = groups.get("other", []) + ranked[self.max_plans :]
        for label, plans in groups.items():
            mrr = sum((plan_mrr[p] for p in plans), Fraction(0))
            self.put("saas_plan_mrr", mrr, plan=label)
            customers = sum(len(plan_customers[p]) for p in plans)
            self.put("saas_plan_customers", customers, plan=label)

    def movement_series(self) -> None:
        for kind in KINDS:
            total = sum((m.amount for m in self.book.movements if m.kind == kind), Fraction(0))
            self.put("saas_mrr_movement_total", total, kind=kind)
            for window in MOVEMENT_WINDOWS:
                self.put(
                    "saas_mrr_movement",
                    self.moved(kind, int(window[:-1]))[1],
                    kind=kind,
                    window=window,
                )

    def churn_series(self) -> None:
        (n_new, m_new), (n_react, m_react) = self.moved("new", 30), self.moved("reactivation", 30)
        (n_churn, m_churn), (_, m_exp) = self.moved("churn", 30), self.moved("expansion", 30)
        m_contr = self.moved("contraction", 30)[1]
        mrr_start = self.mrr - (m_new + m_react + m_exp - m_contr - m_churn)
        c_start = len(self.paying) - (n_new + n_react - n_churn)
        w = {"window": "30d"}
        if c_start != 0:
            self.put("saas_customer_churn_rate", Fraction(n_churn, c_start), **w)
        if mrr_start != 0:
            self.put("saas_gross_mrr_churn_rate", (m_churn + m_contr) / mrr_start, **w)
            self.put(
                "saas_net_mrr_churn_rate", (m_churn + m_contr - m_exp - m_react) / mrr_start, **w
            )
            self.put("saas_nrr", (mrr_start - m_churn - m_contr + m_exp) / mrr_start, **w)
            self.put("saas_grr", (mrr_start - m_churn - m_contr) / mrr_start, **w)
        if m_churn + m_contr != 0:
            self.put("saas_quick_ratio", (m_new + m_exp + m_react) / (m_churn + m_contr), **w)

    def money_series(self) -> None:
        book, w = self.book, {"window": "30d"}
        revenue = sum((a for d, a in book.revenue if self.in_window(d, 30)), Fraction(0))
        spend = [(c, a) for d, c, a, _ in book.spend if self.in_window(d, 30)]
        cogs = sum((a for c, a in spend if c == "cogs"), Fraction(0))
        acquisition = sum((a for c, a in spend if c in ("sales", "marketing")), Fraction(0))
        burn = sum((a for _, a in spend), Fraction(0)) - revenue
        self.put("saas_revenue", revenue, **w)
        self.put("saas_burn", burn, **w)
        margin = Fraction(1)
        if revenue != 0:
            margin = (revenue - cogs) / revenue
            self.put("saas_gross_margin", margin, **w)
        if burn > 0 and book.cash is not None:
            self.put("saas_runway_months", book.cash[2] / burn, **w)
        net_new = self.net_new_mrr()
        if burn > 0 and net_new > 0:
            self.put("saas_burn_multiple", burn / (12 * net_new), **w)
        churn_rate = self.out.get(sample_key("saas_customer_churn_rate", **w))
        ltv = cac = None
        if self.arpa is not None and churn_rate:
            ltv = self.arpa * margin / churn_rate
            self.put("saas_ltv", ltv, **w)
        n_new = self.moved("new", 30)[0]
        if n_new > 0:
            cac = acquisition / n_new
            self.put("saas_cac", cac, **w)
        if ltv is not None and cac:
            self.put("saas_ltv_cac_ratio", ltv / cac, **w)
        if cac is not None and self.arpa is not None and self.arpa * margin != 0:
            self.put("saas_cac_payback_months", cac / (self.arpa * margin), **w)

    def net_new_mrr(self) -> Fraction:
        """M_new + M_reactivation + M_expansion − M_contraction − M_churn over 30 d."""
        sign = {"new": 1, "reactivation": 1, "expansion": 1, "contraction": -1, "churn": -1}
        return sum((s * self.moved(k, 30)[1] for k, s in sign.items()), Fraction(0))

    def users_by_feature(self) -> dict[str, dict[str, set[str]]]:
        """window -> feature -> distinct user_ids with a usage event in it."""
        found: dict[str, dict[str, set[str]]] = {w: defaultdict(set) for w in ACTIVITY_WINDOWS}
        for day, user, _, feature in self.book.usage:
            for window in ACTIVITY_WINDOWS:
                if self.in_window(day, int(window[:-1])):
                    found[window][feature].add(user)
        return found

    def activity_series(self) -> None:
        found = self.users_by_feature()

        def users(window: str, features: Iterable[str]) -> set[str]:
            return set().union(*(found[window][f] for f in features))

        active = {w: len(users(w, found[w])) for w in ACTIVITY_WINDOWS}
        for window, count in active.items():
            self.put("saas_active_users", count, window=window)
        mau = active["30d"]
        if mau:
            self.put("saas_stickiness", Fraction(active["1d"], mau))
        monthly = found["30d"]
        ranked = sorted(monthly, key=lambda f: (-len(monthly[f]), f))
        groups = {f: [f] for f in ranked[: self.max_features]}
        if ranked[self.max_features :]:
            # Reading (as for plans and segments): a feature literally named
            # "other" joins the merged group rather than being overwritten by it.
            groups["other"] = groups.get("other", []) + ranked[self.max_features :]
        for label, features in groups.items():
            for window in ACTIVITY_WINDOWS:
                count = len(users(window, features))
                self.put("saas_feature_active_users", count, feature=label, window=window)
            adoption = Fraction(len(users("30d", features)), mau)
            self.put("saas_feature_adoption", adoption, feature=label)
        visitors = {v for d, v in self.book.visits if self.in_window(d, 30)}
        self.put("saas_unique_visitors", len(visitors), window="30d")

    def customer_series(self) -> None:
        book, w = self.book, {"window": "30d"}
        recent = {c for d, _, c, _ in book.usage if self.in_window(d, 14)}
        self.put("saas_at_risk_customers", len(set(self.paying) - recent))
        if self.paying:
            ranked = sorted(self.paying.values(), reverse=True)
            top20 = math.ceil(Fraction(len(ranked), 5))
            self.put("saas_mrr_top_share", sum(ranked[:top20]) / self.mrr, top="20pct")
            self.put("saas_mrr_top_share", sum(ranked[:10]) / self.mrr, top="10")
            self.put("saas_mrr_hhi", sum((m / self.mrr) ** 2 for m in ranked))
        self.put("saas_trials_started", sum(self.in_window(t, 30) for t in book.trial_starts), **w)
        converted = sum(self.in_window(t, 30) for t in book.conversions)
        ended = sum(self.in_window(t, 30) for t in book.trial_ends)
        if converted + ended:
            self.put("saas_trial_conversion_rate", Fraction(converted, converted + ended), **w)
        leads = sum(self.in_window(t, 30) for t in book.leads)
        self.put("saas_leads", leads, **w)
        if leads:
            self.put("saas_lead_conversion_rate", Fraction(self.moved("new", 30)[0], leads), **w)
        if self.paying:
            tickets = sum(self.in_window(t, 30) for t in book.tickets)
            self.put("saas_tickets_per_customer", Fraction(tickets, len(self.paying)), **w)
        scores = [s for d, s in book.nps if self.in_window(d, 90)]
        if scores:
            net = sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)
            self.put("saas_nps", Fraction(100 * net, len(scores)), window="90d")

    def counter_series(self) -> None:
        book = self.book
        for topic, n in book.processed.items():
            self.put("saas_events_processed_total", n, topic=topic)
        for reason, n in book.rejected.items():
            self.put("saas_events_rejected_total", n, reason=reason)
        for topic, n in book.duplicates.items():
            self.put("saas_events_duplicate_total", n, topic=topic)
        if book.asof is not None:
            self.put("saas_asof_timestamp_seconds", book.asof)
