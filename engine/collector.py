"""Prometheus export at scrape time: a custom Collector over the report samples."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from tables.report import Sample

CUR = "reporting currency, major units"
W = "in the window ending at the as-of day"
HELP = {
    # revenue
    "saas_mrr": f"Monthly recurring revenue ({CUR})",
    "saas_arr": f"Annual recurring revenue = 12 x MRR ({CUR})",
    "saas_arpa": f"Average revenue per paying account = MRR / paying customers ({CUR})",
    "saas_plan_mrr": f"MRR per plan with MRR > 0, the rest under plan=other ({CUR})",
    "saas_paying_customers": "Customers with MRR > 0 (count)",
    "saas_plan_customers": "Paying customers per plan (count)",
    "saas_committed_mrr": f"MRR less that of subscriptions with a scheduled cancellation ({CUR})",
    "saas_pending_cancellations": "Subscriptions with MRR > 0 and a scheduled cancellation (count)",
    "saas_mrr_movement": f"MRR movement amounts per kind {W} ({CUR})",
    "saas_mrr_movement_total": f"MRR movement amounts per kind since the start of history ({CUR})",
    "saas_revenue": f"Succeeded minus refunded payments {W} ({CUR})",
    "saas_mrr_top_share": "Share of MRR held by the top 20 % / top 10 paying customers (ratio 0-1)",
    "saas_mrr_hhi": "Herfindahl index of customer MRR shares (0-1; 1 = one customer holds all)",
    # retention
    "saas_customer_churn_rate": f"Churned customers / customers at the window start, {W} (ratio)",
    "saas_gross_mrr_churn_rate": f"(churn + contraction) / MRR at the window start, {W} (ratio)",
    "saas_net_mrr_churn_rate": (
        f"(churn + contraction - expansion - reactivation) / MRR at the window start, {W} (ratio)"
    ),
    "saas_nrr": f"Net revenue retention, {W} (ratio; 1 = 100 %)",
    "saas_grr": f"Gross revenue retention, {W} (ratio; 1 = 100 %)",
    "saas_quick_ratio": f"(new + expansion + reactivation) / (churn + contraction), {W} (ratio)",
    "saas_cohort_customers": "Customers whose first MRR fell in the cohort month (count)",
    "saas_cohort_logo_retention": "Cohort customers with MRR > 0 at month cohort+age (0-1)",
    "saas_cohort_mrr_retention": "Cohort MRR at month cohort+age / at the cohort month (0-1)",
    "saas_segment_mrr": f"MRR of the customers now in the segment ({CUR})",
    "saas_segment_paying_customers": "Paying customers now in the segment (count)",
    "saas_segment_new_customers": f"New-MRR movements of the segment's customers {W} (count)",
    "saas_segment_customer_churn_rate": f"Customer churn rate of the segment, {W} (ratio)",
    "saas_segment_nrr": f"Net revenue retention of the segment, {W} (ratio)",
    "saas_segment_cac": f"Sales + marketing spend of the channel / its new customers, {W} ({CUR})",
    # unit economics
    "saas_ltv": f"Lifetime value = ARPA x gross margin / customer churn rate ({CUR})",
    "saas_cac": f"Customer acquisition cost = sales + marketing spend / new customers, {W} ({CUR})",
    "saas_ltv_cac_ratio": "LTV / CAC (ratio)",
    "saas_cac_payback_months": "CAC / (ARPA x gross margin) (months)",
    "saas_gross_margin": f"(revenue - cogs spend) / revenue, {W} (ratio)",
    "saas_burn": f"All spend minus revenue {W} ({CUR})",
    "saas_runway_months": "Latest cash balance / burn, only while burn > 0 (months)",
    "saas_burn_multiple": f"Burn / (12 x net new MRR), {W} (ratio)",
    # engagement and funnel
    "saas_active_users": "Distinct users with a usage event in the window (count)",
    "saas_feature_active_users": "Distinct users of the feature in the window (count)",
    "saas_stickiness": "DAU / MAU (ratio)",
    "saas_feature_adoption": "Feature MAU / MAU (ratio)",
    "saas_unique_visitors": f"Distinct visitor_id {W} (count)",
    "saas_at_risk_customers": "Paying customers with no usage event in 14 days (count)",
    "saas_trials_started": f"Trials started {W} (count)",
    "saas_trial_conversion_rate": f"Conversions / (conversions + trial.ended), {W} (ratio)",
    "saas_leads": f"Leads created {W} (count)",
    "saas_lead_conversion_rate": f"New-MRR movements / leads, {W} (ratio)",
    "saas_signups": f"Product sign-ups {W} (count)",
    "saas_visitor_signup_rate": f"Signups / unique visitors, {W} (ratio)",
    # support and satisfaction
    "saas_tickets_per_customer": f"Tickets opened per paying customer, {W} (ratio)",
    "saas_tickets_opened": f"Support tickets opened {W} (count)",
    "saas_tickets_resolved": f"Support tickets resolved {W} (count)",
    "saas_ticket_resolution_rate": f"Tickets resolved / opened, {W} (ratio)",
    "saas_ticket_resolution_hours": f"Mean time from open to resolution, {W} (hours)",
    "saas_ticket_first_response_hours": f"Mean time from open to first reply, {W} (hours)",
    "saas_nps": "Net promoter score over 90 days (-100..100)",
    "saas_csat": f"Share of CSAT responses scoring 4 or 5, {W} (percent 0-100)",
    # the engine itself
    "saas_events_processed_total": "Events applied per input topic (count; not dups or rejects)",
    "saas_events_rejected_total": "Inputs rejected, per reason (count; see docs/events.md)",
    "saas_events_duplicate_total": "Events ignored: their event_id was already applied (count)",
    "saas_asof_timestamp_seconds": "As-of time T: the largest event ts applied (Unix seconds)",
    "streamkpi_reader_records_total": "Records the global reader folded (outcome=applied) or "
    "could not apply (outcome=error, logged with topic/partition/offset) (count)",
    "saas_kpi_target": "Configured KPI target, in the unit (ratio, months, currency...) of its KPI",
}


class KpiCollector(Collector):
    """Reads the engine's state when Prometheus scrapes; never labels by customer or user."""

    def __init__(
        self, source: Callable[[], list[Sample]], registry: CollectorRegistry | None = None
    ):
        self._source = source
        if registry is not None:
            registry.register(self)

    def describe(self) -> list[Metric]:
        return []  # samples depend on the data; do not call collect() at registration

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for name, labels, value in self._source():
            family = families.get(name)
            if family is None:
                family = families[name] = _family(name, [k for k, _ in labels])
            family.add_metric([v for _, v in labels], value)
        yield from families.values()


def _family(name: str, label_names: list[str]) -> Metric:
    doc = HELP.get(name, name.removeprefix("saas_").replace("_", " "))
    if name.endswith("_total"):
        return CounterMetricFamily(name.removesuffix("_total"), doc, labels=label_names)
    return GaugeMetricFamily(name, doc, labels=label_names)
