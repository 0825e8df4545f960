"""A realistic, reproducible SaaS business as a stream of SPEC §2 events.

`Simulator` drives the parts of the business one simulated day at a time: the
FX market, `world.World` (customers, subscriptions, billing), `product`
(usage, visits, signups, leads), `support` (tickets, CSAT, NPS) and `company`
(spend, cash), plus an optional `incidents.Incident`. Each day's events are
generated in one go, sorted by `ts` and numbered, then handed out by
`events_between`, so any slicing of time yields the same events in the same
order as `history()`. Everything comes from `random.Random(seed)` and the
configured start: never the global random state, never the wall clock.

`streamkpi simulate` writes `history()` with `write_history`; the live
simulation (`live.py`) keeps calling `events_between` past the configured days,
and the world keeps growing at its end-of-history pace.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from os import PathLike
from typing import Any

import orjson

from engine.simulation import incidents
from engine.simulation.company import Books
from engine.simulation.incidents import Incident
from engine.simulation.market import USD_PER_UNIT, FxMarket
from engine.simulation.product import Funnel, Product
from engine.simulation.support import Support
from engine.simulation.timeline import Agenda, DayLog, poisson
from engine.simulation.world import World

Event = dict[str, Any]
Item = tuple[bool, list[tuple[datetime, Event]]]  # (is a batch, its events with their times)

BATCHABLE = frozenset({"usage", "visit"})
BILLED_IN = ("USD", "EUR", "GBP")  # the currencies customers pay in (catalog.PRICE_BOOK)
YEAR_DAYS = 365  # a history shorter than this starts with an established base (see base_of)
PAYING_SHARE = 0.425  # the share of arriving accounts that become paying customers (measured)
LATER_GROWTH = 1.35  # arrivals per day after the configured days, per day of the last stretch


@dataclass(frozen=True)
class SimConfig:
    """What to simulate; the same config always yields the same history."""

    customers: int = 200  # paying customers won by the end (see base_of and PAYING_SHARE)
    days: int = 90
    seed: int = 1
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    users_per_customer: int = 5
    currency: str = "USD"  # reporting currency
    batch_usage: bool = True  # emit some usage/visit events as JSON-array batches
    incident: Incident | None = None

    def __post_init__(self) -> None:
        if self.customers < 0 or self.days < 0 or self.users_per_customer < 1:
            raise ValueError("customers and days must be >= 0, users_per_customer >= 1")
        if self.currency not in USD_PER_UNIT:
            raise ValueError(f"simulated reporting currency must be one of {sorted(USD_PER_UNIT)}")
        object.__setattr__(self, "start", _utc(self.start).replace(microsecond=0))

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


def history_config(
    customers: int, days: int, seed: int, incident: str | None = None, when: str | None = None
) -> SimConfig:
    """The config of `streamkpi simulate --out`: an incident's WHEN is relative to the end."""
    config = SimConfig(customers=customers, days=days, seed=seed)
    if incident is None:
        if when is not None:
            raise ValueError("--incident-at needs --incident")
        return config
    planned = incidents.plan_incident(
        incident, when or incidents.DEFAULT_WHEN["history"], config.start, config.end
    )
    if planned.at >= config.end:
        raise ValueError(f"--incident-at {when}: after the end of the {days}-day history")
    return SimConfig(customers=customers, days=days, seed=seed, incident=planned)


class Simulator:
    """The simulated business; a stateful, deterministic source of events."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._framing = random.Random(f"batches-{config.seed}")  # framing never alters the world
        self._start = config.start
        self._fx = FxMarket(self._rng, config.currency)
        self._world = World(self._rng, self._start.date(), config.users_per_customer)
        self._base = base_of(config)
        self._arrivals, self._expected = _arrival_plan(self._rng, config, self._base)
        self._agenda = Agenda()
        self._product = Product(self._rng, max(1, config.days // 2))
        self._funnel = Funnel(self._rng)
        self._support = Support(self._rng, self._agenda)
        self._books = Books(self._rng, self._fx, config.currency, max(config.customers, 20))
        self._day = 0
        self._buffer: deque[Item] = deque()
        self._events = 0

    # ---- public API ------------------------------------------------------------

    def events_between(self, t0: datetime, t1: datetime) -> Iterator[Event | list[Event]]:
        """Events with t0 <= ts < t1 in ts order, continuing the simulated world's state.

        Deterministic for a given seed and call sequence. A list item is a
        usage/visit batch; a batch that straddles t1 is split there, the rest
        coming first in the next call. Events before t0 not yet handed out are
        skipped (the world still lived through them).
        """
        t0, t1 = _utc(t0), _utc(t1)
        while True:
            if not self._buffer:
                if self._start + timedelta(days=self._day) >= t1:
                    return
                self._buffer.extend(self._generate_day())
                continue
            is_batch, timed = self._buffer[0]
            if timed[0][0] >= t1:
                return
            self._buffer.popleft()
            rest = [(dt, event) for dt, event in timed if dt >= t1]
            if rest:
                self._buffer.appendleft((True, rest))
            now = [event for dt, event in timed if t0 <= dt < t1]
            if now:
                yield now if is_batch else now[0]

    def history(self) -> Iterator[Event | list[Event]]:
        """The configured days from the start (call on a fresh simulator)."""
        return self.events_between(self._start, self.config.end)

    # ---- one day ---------------------------------------------------------------

    def _generate_day(self) -> list[Item]:
        day, log, world = self._day, DayLog(), self._world
        today = (self._start + timedelta(days=day)).date()
        world.begin_day(day, log.add)
        self._quote(day, log)
        if day == 0:
            world.establish(self._base)
        world.step(self._arrivals_on(day))
        expected = self._expected_on(day)
        self._funnel.day(today, log, world.arrived, expected)
        used = self._product.usage(day, today, log, world.customers)
        self._support.day(day, log, world.customers)
        self._books.close_day(today, log, world, used, expected * PAYING_SHARE)
        self._incident(day, log)
        self._agenda.release(day, log)
        self._day += 1
        return self._frame(self._number(day, log))

    def _quote(self, day: int, log: DayLog) -> None:
        """Quote every billing currency at 00:00:00, before anything of the day can use it."""
        if day:
            self._fx.drift()
        for cur in BILLED_IN:
            if cur != self.config.currency:
                log.add(0, "fx.rate", currency=cur, rate=round(self._fx.rate(cur), 6))

    def _incident(self, day: int, log: DayLog) -> None:
        """Fire the configured incident on its day, after everything else the day held."""
        incident = self.config.incident
        if incident is None or incident.at.date() != (self._start + timedelta(days=day)).date():
            return
        busy: dict[str, int] = {}  # the last second of each customer's subscription events today
        for second, _, fields in log.rows:
            if "subscription_id" in fields:
                busy[fields["customer_id"]] = max(busy.get(fields["customer_id"], 0), second)
        second = int((incident.at - (self._start + timedelta(days=day))).total_seconds())
        incidents.fire(incident.kind, self._world, self._rng, second, busy)

    def _arrivals_on(self, day: int) -> int:
        if day < len(self._arrivals):
            return self._arrivals[day]
        return poisson(self._rng, self._expected_on(day))

    def _expected_on(self, day: int) -> float:
        """The expected number of arriving accounts on `day` (what budgets are planned on)."""
        if day < len(self._expected):
            return self._expected[day]
        weekend = (self._start + timedelta(days=day)).weekday() >= 5
        won = self.config.customers - self._base
        rate = won / PAYING_SHARE / max(self.config.days, 1) * LATER_GROWTH
        return rate * (0.55 if weekend else 1.0)

    def _number(self, day: int, log: DayLog) -> list[tuple[datetime, Event]]:
        """Sort the day's rows by time and give them ids and RFC 3339 timestamps."""
        base, seed, timed = self._start + timedelta(days=day), self.config.seed, []
        for second, _, fields in sorted(log.rows, key=lambda row: row[:2]):
            self._events += 1
            dt = base + timedelta(seconds=second)
            event_id = f"e-{seed}-{self._events}"
            ts = dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            timed.append((dt, {"event_id": event_id, "type": fields["type"], "ts": ts, **fields}))
        return timed

    def _frame(self, timed: list[tuple[datetime, Event]]) -> list[Item]:
        """Group some runs of consecutive usage/visit events into batches (SDK flushes)."""
        items: list[Item] = []
        i, rng = 0, self._framing
        while i < len(timed):
            j = i + 1
            if self.config.batch_usage and timed[i][1]["type"] in BATCHABLE and rng.random() < 0.3:
                limit = min(i + rng.randint(2, 20), len(timed))
                while j < limit and timed[j][1]["type"] in BATCHABLE:
                    j += 1
            items.append((j - i > 1, timed[i:j]))
            i = j
        return items


def base_of(config: SimConfig) -> int:
    """How many of the customers were won before a history shorter than a year began.

    A business that won all its customers inside a 60-day history would grow
    ~2.5x in its last month, an implausible churn rate's denominator and quick
    ratio; instead a short history starts with the customers a year would have
    brought before it (1 - days/365 of them), and wins the rest during the days.
    """
    return round(config.customers * max(0.0, 1 - config.days / YEAR_DAYS))


def _arrival_plan(
    rng: random.Random, config: SimConfig, base: int
) -> tuple[list[int], list[float]]:
    """Spread the arriving accounts over the days (growing, quieter on weekends).

    `(customers - base) / PAYING_SHARE` accounts arrive, so that about
    `customers - base` of them become paying customers (the rest are trials
    that never convert).

    Returns the drawn counts per day and their expectation per day.
    """
    if not config.days:
        return [], []
    weights = [
        (1.0 + 1.2 * d / config.days) * (0.55 if (config.start + timedelta(days=d)).weekday() >= 5
                                         else 1.0)
        for d in range(config.days)
    ]  # fmt: skip
    accounts = round((config.customers - base) / PAYING_SHARE)
    counts = [0] * config.days
    for d in rng.choices(range(config.days), weights, k=accounts):
        counts[d] += 1
    total = sum(weights)
    return counts, [accounts * w / total for w in weights]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def write_history(
    config: SimConfig, path: str | PathLike[str], progress: Callable[[int], None] | None = None
) -> int:
    """Write `history()` as JSONL (one event or one batch array per line); returns lines.

    `progress`, if given, is called with the number of lines written since its
    last call (an increment, as `tqdm.update` wants), every 1,000 lines and at the end.
    """
    lines = pending = 0
    with open(path, "wb") as out:
        for item in Simulator(config).history():
            out.write(orjson.dumps(item) + b"\n")
            lines += 1
            pending += 1
            if progress is not None and pending >= 1000:
                progress(pending)
                pending = 0
    if progress is not None and pending:
        progress(pending)
    return lines


__all__ = ["SimConfig", "Simulator", "history_config", "write_history"]
