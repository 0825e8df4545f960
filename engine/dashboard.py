"""The terminal dashboard of `make demo` and `streamkpi snapshot`.

Pure part first: samples (as exported on /metrics) -> a `View` of grouped rows
with human units in the reporting currency, each KPI's target and whether it
is met, sparklines of MRR and DAU, and the alerts whose condition is true
now (the target rules of prometheus/alerts.yml, without their `for:` delay).
Then the rich part: `render` lays a View out for 80 x 24; `Screen` refreshes
it in place with rich's `Live` on a terminal and prints plain text otherwise.
"""

from __future__ import annotations

import io
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tables.report import Sample

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
BARS = "▁▂▃▄▅▆▇█"
W30 = (("window", "30d"),)

# (label, metric, labels, unit, target kpi or "")
Row = tuple[str, str, tuple[tuple[str, str], ...], str, str]
GROUPS: tuple[tuple[str, tuple[Row, ...]], ...] = (
    (
        "Revenue",
        (
            ("MRR", "saas_mrr", (), "money", ""),
            ("Committed MRR", "saas_committed_mrr", (), "money", ""),
            ("ARPA", "saas_arpa", (), "money", ""),
            ("Paying accounts", "saas_paying_customers", (), "count", ""),
            ("Revenue 30d", "saas_revenue", W30, "money", ""),
            (
                "Top 20 % share",
                "saas_mrr_top_share",
                (("top", "20pct"),),
                "pct",
                "mrr_top_share_20pct",
            ),
        ),
    ),
    (
        "Retention (30d)",
        (
            ("Customer churn", "saas_customer_churn_rate", W30, "pct", "customer_churn_rate"),
            ("Net MRR churn", "saas_net_mrr_churn_rate", W30, "pct", "net_mrr_churn_rate"),
            ("Gross MRR churn", "saas_gross_mrr_churn_rate", W30, "pct", ""),
            ("NRR", "saas_nrr", W30, "pct", "nrr"),
            ("GRR", "saas_grr", W30, "pct", ""),
            ("Quick ratio", "saas_quick_ratio", W30, "ratio", "quick_ratio"),
        ),
    ),
    (
        "Engagement",
        (
            ("DAU", "saas_active_users", (("window", "1d"),), "count", ""),
            ("MAU", "saas_active_users", W30, "count", ""),
            ("Stickiness", "saas_stickiness", (), "pct", ""),
            ("At-risk (14d)", "saas_at_risk_customers", (), "count", ""),
            ("Signups 30d", "saas_signups", W30, "count", ""),
        ),
    ),
    (
        "Unit economics",
        (
            ("LTV", "saas_ltv", W30, "money", ""),
            ("CAC", "saas_cac", W30, "money", "cac"),
            ("LTV:CAC", "saas_ltv_cac_ratio", W30, "ratio", ""),
            ("CAC payback", "saas_cac_payback_months", W30, "months", ""),
            ("Gross margin", "saas_gross_margin", W30, "pct", "gross_margin"),
            ("Burn", "saas_burn", W30, "money", ""),
            ("Runway", "saas_runway_months", W30, "months", "runway_months"),
            ("Burn multiple", "saas_burn_multiple", W30, "ratio", "burn_multiple"),
        ),
    ),
    (
        "Support",
        (
            ("Tickets/account", "saas_tickets_per_customer", W30, "num", ""),
            (
                "Resolution time",
                "saas_ticket_resolution_hours",
                W30,
                "hours",
                "ticket_resolution_hours",
            ),
            ("CSAT 30d", "saas_csat", W30, "points", "csat"),
            ("NPS 90d", "saas_nps", (("window", "90d"),), "nps", ""),
        ),
    ),
)
OPTIONAL = frozenset({"saas_committed_mrr", "saas_signups", "saas_burn_multiple", "saas_csat"})
OPTIONAL |= {"saas_ticket_resolution_hours"}
# kpi -> (alert name in prometheus/alerts.yml, True when the target is a maximum)
TARGET_RULES = {
    "customer_churn_rate": ("CustomerChurnSpike", True),
    "net_mrr_churn_rate": ("NetMrrChurnAboveTarget", True),
    "mrr_top_share_20pct": ("MrrConcentrationAboveTarget", True),
    "cac": ("CacAboveTarget", True),
    "nrr": ("NrrBelowTarget", False),
    "quick_ratio": ("QuickRatioBelowTarget", False),
    "gross_margin": ("GrossMarginBelowTarget", False),
    "runway_months": ("RunwayBelowTarget", False),
    "csat": ("CsatBelowTarget", False),
    "ticket_resolution_hours": ("TicketResolutionAboveTarget", True),
    "burn_multiple": ("BurnMultipleAboveTarget", True),
}
DEFAULT_TARGETS = {"nrr": 1.0}  # alerts.yml falls back to 100 % NRR without a target


def money(value: float, currency: str) -> str:
    """`$32,799`, `$49.50`, `€1.25 M`, `1,200 CHF`: whole units above 1,000."""
    sign, value = ("-" if value < 0 else ""), abs(value)
    if value >= 10_000_000:
        text = f"{value / 1e6:,.1f} M"
    elif value >= 1000:
        text = f"{value:,.0f}"
    else:
        text = f"{value:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def human(value: float | None, unit: str, currency: str) -> str:
    """One KPI value in its unit; `—` when the engine exports no sample."""
    if value is None:
        return "—"
    if unit == "money":
        return money(value, currency)
    formats = {
        "pct": lambda v: f"{v * 100:.1f} %",
        "points": lambda v: f"{v:.1f} %",
        "ratio": lambda v: f"{v:,.2f}x",
        "months": lambda v: f"{v:,.1f} months",
        "hours": lambda v: f"{v:,.1f} h",
        "nps": lambda v: f"{v:+.0f}",
        "count": lambda v: f"{v:,.0f}",
        "num": lambda v: f"{v:,.2f}",
    }
    return formats[unit](value)


def short(value: float, unit: str, currency: str) -> str:
    """A target, compactly: `≤ 5 %`, `≥ 12 mo`, `≤ $2,000`."""
    compact = {
        "pct": lambda v: f"{v * 100:.3g} %",
        "points": lambda v: f"{v:.3g} %",
        "hours": lambda v: f"{v:.3g} h",
        "months": lambda v: f"{v:.3g} mo",
        "ratio": lambda v: f"{v:.3g}x",
    }
    rule = compact.get(unit)
    return rule(value) if rule else human(value, unit, currency)


def index(samples: Iterable[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(name, tuple(sorted(labels))): value for name, labels, value in samples}


def squeeze(values: list[float], width: int) -> list[float]:
    """At most `width` values: consecutive runs averaged, the newest run last."""
    if len(values) <= width:
        return values
    edges = [round(i * len(values) / width) for i in range(width + 1)]
    return [sum(values[a:b]) / (b - a) for a, b in zip(edges, edges[1:], strict=False)]


def sparkline(values: list[float], width: int = 23) -> str:
    """All `values` in `width` block characters, scaled between their min and max."""
    shown = squeeze(values, width)
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    span = high - low
    return "".join(BARS[0 if span == 0 else round((v - low) / span * 7)] for v in shown)


def _since_data(values: list[float]) -> list[float]:
    """The values from the first non-zero one: a worker starts at 0 before its backlog."""
    start = next((i for i, v in enumerate(values) if v), len(values))
    return values[start:]


@dataclass
class History:
    """What the dashboard remembers between refreshes: (monotonic s, MRR, DAU, rejected)."""

    points: deque[tuple[float, float, float, float]] = field(
        default_factory=lambda: deque(maxlen=240)
    )

    def add(self, at: float, mrr: float, dau: float, rejected: float) -> None:
        self.points.append((at, mrr, dau, rejected))


@dataclass(frozen=True)
class Line:
    label: str
    value: str
    target: str  # "≤ 5.0 %" or ""
    met: bool | None  # None: no target or no value


@dataclass(frozen=True)
class View:
    asof: str
    processed: float
    rejected: float
    groups: tuple[tuple[str, tuple[Line, ...]], ...]
    mrr_trend: str
    dau_trend: str
    alerts: tuple[str, ...]


def _targets(values: dict[Any, float]) -> dict[str, float]:
    found = {labels[0][1]: v for (name, labels), v in values.items() if name == "saas_kpi_target"}
    return {**DEFAULT_TARGETS, **found}


def _line(row: Row, values: dict[Any, float], targets: dict[str, float], currency: str) -> Line:
    label, metric, labels, unit, kpi = row
    value = values.get((metric, labels))
    if kpi not in targets:
        return Line(label, human(value, unit, currency), "", None)
    goal, is_max = targets[kpi], TARGET_RULES[kpi][1]
    target = ("≤ " if is_max else "≥ ") + short(goal, unit, currency)
    met = None if value is None else (value <= goal if is_max else value >= goal)
    return Line(label, human(value, unit, currency), target, met)


def _total(values: dict[Any, float], metric: str) -> float:
    return sum(v for (name, _labels), v in values.items() if name == metric)


def _alerts(lines: dict[str, Line], history: History, rejected: float) -> tuple[str, ...]:
    fired = [
        f"{TARGET_RULES[kpi][0]}: {line.label} {line.value} (target {line.target})"
        for kpi, line in lines.items()
        if line.met is False
    ]
    points = list(history.points)
    hour_ago = [p for p in points if p[0] >= points[-1][0] - 3600] if points else []
    if hour_ago and hour_ago[0][1] > 0 and hour_ago[-1][1] / hour_ago[0][1] < 0.95:
        fired.append("MrrDrop: MRR fell more than 5 % within the hour")
    if len(points) > 1 and points[-1][3] > points[-2][3] or len(points) <= 1 and rejected:
        fired.append(f"EventsRejected: {rejected:,.0f} inputs rejected (streamkpi rejected)")
    return tuple(fired)


def build_view(samples: Iterable[Sample], currency: str, history: History | None = None) -> View:
    """Everything the dashboard shows, as text; `history` gets this refresh's point."""
    values = index(samples)
    targets = _targets(values)
    history = history if history is not None else History()
    rejected = _total(values, "saas_events_rejected_total")
    mrr, dau = (
        values.get(("saas_mrr", ()), 0.0),
        values.get(("saas_active_users", (("window", "1d"),)), 0.0),
    )
    history.add(time.monotonic(), mrr, dau, rejected)
    groups, by_kpi = [], {}
    for title, rows in GROUPS:
        lines = []
        for row in rows:
            if row[1] in OPTIONAL and not any(name == row[1] for name, _ in values):
                continue
            line = _line(row, values, targets, currency)
            lines.append(line)
            if row[4]:
                by_kpi[row[4]] = line
        groups.append((title, tuple(lines)))
    asof = values.get(("saas_asof_timestamp_seconds", ()))
    when = datetime.fromtimestamp(asof, UTC).strftime("%Y-%m-%d %H:%M UTC") if asof else "no data"
    points = list(history.points)
    return View(
        asof=when,
        processed=_total(values, "saas_events_processed_total"),
        rejected=rejected,
        groups=tuple(groups),
        mrr_trend=sparkline(_since_data([p[1] for p in points])),  # up to 240 refreshes
        dau_trend=sparkline(_since_data([p[2] for p in points])),
        alerts=_alerts(by_kpi, history, rejected),
    )


def _group_table(title: str, lines: tuple[Line, ...]) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(width=15, no_wrap=True)
    table.add_column(width=11, justify="right", no_wrap=True)
    table.add_column(width=11, justify="right", no_wrap=True)
    table.add_row(Text(title, style="bold cyan"), "", Text("target", style="dim"))
    for line in lines:
        mark = {True: Text("✓", style="green"), False: Text("✗", style="bold red")}.get(line.met)
        target = Text(line.target, style="dim")
        if mark is not None:
            target = Text.assemble(target, " ", mark)
        table.add_row(line.label, Text(line.value, style="bold"), target)
    return table


def render(view: View, url: str = "") -> Group:
    """The dashboard laid out in two columns; 80 x 24 fits it."""
    groups = {title: _group_table(title, lines) for title, lines in view.groups}
    titles = list(groups)
    trends = Table.grid(padding=(0, 1))
    trends.add_column(width=15, no_wrap=True)
    trends.add_column(width=23, no_wrap=True)
    trends.add_row(Text("Trend", style="bold cyan"), "")
    trends.add_row("MRR", Text(view.mrr_trend, style="green"))
    trends.add_row("DAU", Text(view.dau_trend, style="blue"))
    left = Group(groups[titles[0]], groups[titles[1]], groups[titles[2]])
    right = Group(groups[titles[3]], groups[titles[4]], trends)
    body = Table.grid(padding=(0, 2))
    body.add_row(left, right)
    header = Text.assemble(
        ("streamkpi", "bold"),
        f"  as of {view.asof}  {view.processed:,.0f} events  {view.rejected:,.0f} rejected",
    )
    alerts = Text("Alerts now: ", style="bold", no_wrap=True, overflow="ellipsis")
    names = ", ".join(alert.split(":")[0] for alert in view.alerts)
    alerts.append(names or "none", "red" if view.alerts else "green")
    footer = Text(url, style="dim") if url else Text("")
    return Group(header, body, alerts, footer)


def render_text(samples: Iterable[Sample], currency: str, url: str = "", width: int = 80) -> str:
    """The dashboard as plain text (no colours, no cursor movement): snapshot, pipes, logs."""
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False)
    console.print(render(build_view(samples, currency), url))
    return out.getvalue().rstrip("\n")


def print_once(samples: Iterable[Sample], currency: str, url: str = "") -> None:
    """`streamkpi snapshot`: in colour on a terminal, plain text otherwise."""
    if sys.stdout.isatty():
        Console(width=80).print(render(build_view(samples, currency), url))
    else:
        print(render_text(samples, currency, url))


class Screen:
    """Shows successive Views: in place with rich's Live on a TTY, plain text otherwise."""

    def __init__(self, currency: str, url: str, stream: Any = None) -> None:
        self.currency, self.url = currency, url
        self.stream = stream or sys.stdout
        self.history = History()
        self.live: Live | None = None

    def __enter__(self) -> Screen:
        if self.stream.isatty():
            self.live = Live(console=Console(file=self.stream), screen=True, auto_refresh=False)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def show(self, samples: Iterable[Sample]) -> None:
        view = render(build_view(samples, self.currency, self.history), self.url)
        if self.live is not None:
            self.live.update(view, refresh=True)
            return
        console = Console(file=self.stream, width=80, color_system=None, force_terminal=False)
        console.print(view)
        console.print()
