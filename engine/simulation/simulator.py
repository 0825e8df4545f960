"""A realistic, reproducible SaaS business as a stream of SPEC §2 events.

`Simulator` drives `simworld.World` (customers, subscriptions, billing, FX) one
simulated day at a time and adds what a product and a company do around it:
product usage by the customers' users, anonymous website visits, leads, spend,
the daily cash balance, support tickets and NPS answers. Each day's events are
generated in one go, sorted by `ts` and numbered, then handed out by
`events_between`, so any slicing of time yields the same events in the same
order as `history()`. Everything comes from `random.Random(seed)` and the
configured start: never the global random state, never the wall clock.

`streamkpi simulate` writes `history()` with `write_history`; `streamkpi run
--simulate` keeps calling `events_between` past the configured days, and the
world keeps growing at its end-of-history pace.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from os import PathLike
from typing import Any

import orjson

from engine.simulation.world import BILLING_MIX, World

Event = dict[str, Any]
Item = tuple[bool, list[tuple[datetime, Event]]]  # (is a batch, its events with their times)

FEATURES = {"dashboards": 40.0, "reports": 25.0, "alerts": 12.0, "export": 10.0, "api": 13.0}
LAUNCHED_FEATURE = "ai-assistant"
CHANNELS = {"organic": 30, "paid_search": 25, "social": 15, "referral": 12, "outbound": 10,
            "partner": 8}  # fmt: skip
BATCHABLE = frozenset({"usage", "visit"})
OPENING_CASH_USD = 240_000_000  # cents; topped up by a funding round when it runs low
DAY_SECONDS = 86_400


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth below 30, normal approximation above) from `rng`."""
    if mean <= 0:
        return 0
    if mean >= 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class DayLog:
    """Events of one simulated day, collected out of order and released in `ts` order.

    Rows sort by (second, insertion order), so an effect added after its cause
    at the same second still comes after it.
    """

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, Event]] = []

    def add(self, second: int, type_: str, **fields: Any) -> int:
        """Record an event at `second` of the day (clamped into the day); returns the second."""
        second = min(max(second, 0), DAY_SECONDS - 1)
        self.rows.append((second, len(self.rows), {"type": type_, **fields}))
        return second


# The simulator's own market, in USD per unit; the reporting currency must be one of these.
USD_PER_UNIT = {
    "USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CHF": 1.13,
    "CAD": 0.74, "AUD": 0.66, "SEK": 0.095, "JPY": 0.0067,
}  # fmt: skip


class FxMarket:
    """Mean-reverting daily random walk of exchange rates (USD per unit underneath)."""

    def __init__(self, rng: random.Random, reporting: str) -> None:
        self.rng, self.reporting = rng, reporting
        self.usd = dict(USD_PER_UNIT)

    def drift(self) -> None:
        """Move every rate by one day: ~0.4 % daily noise, pulled back toward its anchor."""
        for cur, anchor in USD_PER_UNIT.items():
            if cur != "USD":
                pull = 0.05 * math.log(anchor / self.usd[cur])
                self.usd[cur] *= math.exp(pull + self.rng.gauss(0, 0.004))

    def rate(self, currency: str) -> float:
        """Units of the reporting currency per major unit of `currency` (the `fx.rate` quote)."""
        return self.usd[currency] / self.usd[self.reporting]

    def convert(self, amount: float, currency: str, into: str) -> float:
        """`amount` minor units of `currency` in minor units of `into`."""
        scale = 10 ** (_exponent(into) - _exponent(currency))
        return amount * self.usd[currency] / self.usd[into] * scale


@dataclass(frozen=True)
class SimConfig:
    """What to simulate; the same config always yields the same history."""

    customers: int = 200  # customers over the whole history (arrivals spread over time)
    days: int = 90
    seed: int = 1
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    users_per_customer: int = 5
    currency: str = "USD"  # reporting currency
    batch_usage: bool = True  # emit some usage/visit events as JSON-array batches

    def __post_init__(self) -> None:
        if self.customers < 0 or self.days < 0 or self.users_per_customer < 1:
            raise ValueError("customers and days must be >= 0, users_per_customer >= 1")
        if self.currency not in USD_PER_UNIT:
            raise ValueError(f"simulated reporting currency must be one of {sorted(USD_PER_UNIT)}")
        object.__setattr__(self, "start", _utc(self.start).replace(microsecond=0))


class Simulator:
    """The simulated business; a stateful, deterministic source of events."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._framing = random.Random(f"batches-{config.seed}")  # framing never alters the world
        self._start = config.start
        self._fx = FxMarket(self._rng, config.currency)
        self._world = World(self._rng, self._start.date(), config.users_per_customer)
        self._arrivals = _arrival_plan(self._rng, config)
        self._day = 0
        self._buffer: deque[Item] = deque()
        self._numbers = {"event": 0, "lead": 0}
        self._visitors: list[str] = []
        self._cash = self._fx.convert(OPENING_CASH_USD, "USD", config.currency)

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
        return self.events_between(self._start, self._start + timedelta(days=self.config.days))

    # ---- one day ---------------------------------------------------------------

    def _generate_day(self) -> list[Item]:
        day, log, world = self._day, DayLog(), self._world
        world.begin_day(day, log.add)
        self._quote(day, log)
        world.step(self._arrivals_on(day))
        used = self._usage(day, log)
        self._visits(day, log)
        self._leads(day, log)
        self._support(log)
        self._books(day, log, used)
        self._day += 1
        return self._frame(self._number(day, log))

    def _quote(self, day: int, log: DayLog) -> None:
        """Quote every billing currency at 00:00:00, before anything of the day can use it."""
        if day:
            self._fx.drift()
        for cur in BILLING_MIX:
            if cur != self.config.currency:
                log.add(0, "fx.rate", currency=cur, rate=round(self._fx.rate(cur), 6))

    def _arrivals_on(self, day: int) -> int:
        if day < len(self._arrivals):
            return self._arrivals[day]
        rate = self.config.customers / max(self.config.days, 1) * 1.35
        return poisson(self._rng, rate * self._weekday(day, 0.55))

    def _weekday(self, day: int, weekend: float) -> float:
        return weekend if (self._start + timedelta(days=day)).weekday() >= 5 else 1.0

    def _growth(self, day: int) -> float:
        """1 at the start, 2 at the end of the configured history, flat afterwards."""
        return 1.0 + min(day / max(self.config.days, 1), 1.0)

    def _number(self, day: int, log: DayLog) -> list[tuple[datetime, Event]]:
        """Sort the day's rows by time and give them ids and RFC 3339 timestamps."""
        base, seed, timed = self._start + timedelta(days=day), self.config.seed, []
        for second, _, fields in sorted(log.rows, key=lambda row: row[:2]):
            self._numbers["event"] += 1
            dt = base + timedelta(seconds=second)
            event_id = f"e-{seed}-{self._numbers['event']}"
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

    # ---- product ---------------------------------------------------------------

    def _features(self, day: int) -> tuple[list[str], list[float]]:
        """The feature mix of the day; one feature launches mid-history and catches on."""
        mix = dict(FEATURES)
        launch = max(1, self.config.days // 2)
        if day >= launch:
            mix[LAUNCHED_FEATURE] = min(20.0, 2.0 + 0.5 * (day - launch))
        return list(mix), list(mix.values())

    def _usage(self, day: int, log: DayLog) -> int:
        """About 1-3 events per active user; engagement and weekends set who is active."""
        rng, world, count = self._rng, self._world, 0
        names, weights = self._features(day)
        weekday = self._weekday(day, 0.4)
        for cust in world.customers:
            live = cust.live()
            if not live:
                continue
            paused = all(sub.state == "paused" for sub in live)
            base = cust.engagement * weekday * (0.15 if paused else 1.0)
            for n, propensity in enumerate(cust.users):
                if rng.random() >= min(0.97, 1.15 * base * propensity):
                    continue
                second = world.time_of_day()
                for _ in range(rng.choice((1, 2, 2, 2, 3, 3, 4))):
                    second += rng.randint(0, 900)
                    feature = rng.choices(names, weights)[0]
                    log.add(second, "usage", user_id=cust.user_id(n), customer_id=cust.id,
                            feature=feature)  # fmt: skip
                    count += 1
        return count

    def _visits(self, day: int, log: DayLog) -> None:
        """Anonymous website visits; about a third come from returning visitors."""
        rng = self._rng
        for _ in range(poisson(rng, 35 * self._growth(day) * self._weekday(day, 0.6))):
            if self._visitors and rng.random() < 0.35:
                visitor = rng.choice(self._visitors)
            else:
                visitor = f"v-{rng.getrandbits(48):012x}"
                self._visitors.append(visitor)
            log.add(self._world.time_of_day(), "visit", visitor_id=visitor)
        if len(self._visitors) > 5000:
            del self._visitors[:1000]

    # ---- company ---------------------------------------------------------------

    def _leads(self, day: int, log: DayLog) -> None:
        """Roughly 3.5 leads per eventual customer, with their acquisition channel."""
        rng = self._rng
        mean = 2.5 * self.config.customers / max(self.config.days, 1) * self._growth(day)
        for _ in range(poisson(rng, mean * self._weekday(day, 0.5))):
            self._numbers["lead"] += 1
            channel = rng.choices(list(CHANNELS), list(CHANNELS.values()))[0]
            lead_id = f"l-{self._numbers['lead']:06d}"
            log.add(self._world.time_of_day(), "lead.created", lead_id=lead_id, channel=channel)

    def _support(self, log: DayLog) -> None:
        """Tickets (more from disengaged or dunned customers) and NPS answers."""
        rng, world = self._rng, self._world
        for cust in world.customers:
            live = cust.live()
            if not live:
                continue
            dunned = any(sub.failures for sub in live)
            if rng.random() < 0.008 + 0.02 * (1 - cust.engagement) + 0.05 * dunned:
                log.add(world.time_of_day(), "ticket.opened", customer_id=cust.id)
            if rng.random() < 0.006:
                score = round(min(max(rng.gauss(3.5 + 6.5 * cust.engagement, 1.8), 0), 10))
                log.add(world.time_of_day(), "nps.response", customer_id=cust.id, score=score)

    def _books(self, day: int, log: DayLog, usage: int) -> None:
        """The day's spend in the reporting currency, then the closing cash balance."""
        fx, currency = self._fx, self.config.currency
        receipts = sum(fx.convert(amount, cur, "USD") for amount, cur in self._world.receipts)
        spent = sum(
            self._spend(log, category, cents, second)
            for category, cents, second in self._costs(day, usage, receipts)
        )
        self._cash += fx.convert(receipts, "USD", currency) - spent
        if self._cash < fx.convert(50_000_000, "USD", currency):
            self._cash += fx.convert(500_000_000, "USD", currency)  # a funding round
        log.add(DAY_SECONDS - 1, "cash.balance", amount=round(self._cash), currency=currency)

    def _costs(self, day: int, usage: int, receipts: float) -> list[tuple[str, int, int]]:
        """(category, USD cents, second of day): payroll, rent, ads, tools, hosting, fees."""
        rng, when = self._rng, self._world.time_of_day
        today = (self._start + timedelta(days=day)).date()
        costs = [("marketing", rng.randint(18_000, 42_000), 3_600)]
        if today.day in (1, 15):
            costs += [("sales", 1_400_000, 32_400), ("opex", 3_200_000, 32_400)]
        if today.day == 1:
            costs.append(("opex", 950_000, 36_000))
        if rng.random() < 0.04:
            costs.append(("marketing", rng.randint(150_000, 600_000), when()))
        if today.weekday() < 5:
            costs.append(("sales", rng.randint(5_000, 40_000), when()))
        if rng.random() < 0.6:
            costs.append(("opex", rng.randint(2_000, 30_000), when()))
        costs.append(("cogs", 7_000 + rng.randint(0, 2_000) + 3 * usage, 82_800))
        if receipts > 100:  # card processing fees
            costs.append(("cogs", round(0.029 * receipts), 86_000))
        return costs

    def _spend(self, log: DayLog, category: str, usd_cents: int, second: int) -> int:
        currency = self.config.currency
        amount = round(self._fx.convert(usd_cents, "USD", currency))
        log.add(second, "spend", category=category, amount=amount, currency=currency)
        return amount


def _arrival_plan(rng: random.Random, config: SimConfig) -> list[int]:
    """Spread exactly `customers` arrivals over the days: growing, quieter on weekends."""
    if not config.days:
        return []
    weights = [
        (1.0 + 1.2 * d / config.days) * (0.55 if (config.start + timedelta(days=d)).weekday() >= 5
                                         else 1.0)
        for d in range(config.days)
    ]  # fmt: skip
    counts = [0] * config.days
    for d in rng.choices(range(config.days), weights, k=config.customers):
        counts[d] += 1
    return counts


def _exponent(currency: str) -> int:
    """ISO 4217 minor-unit exponent of the currencies in `USD_PER_UNIT`."""
    return 0 if currency == "JPY" else 2


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
