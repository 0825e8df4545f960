"""Adversarial SPEC v2 histories for the integration tests: pure, seeded, no engine imports.

`history(V2Config(...))` returns JSONL lines (bytes) that use every event type
of SPEC §2, v1 and v2: customers that change country and channel inside the
30-day window, more countries and channels than the default segment cap (so
`segment="other"` exists), scheduled cancellations that are withdrawn,
honoured by a cancel, or cleared by a restart, tickets opened twice, answered
several times (sometimes with a reply `ts` before the opening), resolved,
reopened, replies and resolutions of tickets that are not open
(`unknown_ticket`), CSAT and NPS, signups and visits, spend per channel, four
currencies with `fx.rate` updates, usage batches, duplicated lines and bad lines.

Only events of one key are ever out of `ts` order, so the history means the same
whatever partition each key lands on. By default distinct visitors and users
stay below 1,000, where SPEC wants exact counts (`visits_per_day` and
`visitor_pool` raise the visitors above it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

COUNTRIES = [
    ("US", 8), ("DE", 4), ("FR", 3), ("GB", 3), ("JP", 2), ("BR", 2), ("IN", 2),
    ("CA", 2), ("ES", 2), ("IT", 2), ("NL", 2), ("SE", 2), ("PL", 1), ("AU", 1),
    ("MX", 1), ("KR", 1), ("CH", 1), ("AT", 1), ("BE", 1), ("DK", 1), ("NO", 1),
    ("FI", 1), ("IE", 1), ("PT", 1), ("NZ", 1), ("ZA", 1), ("AR", 1), ("SG", 1),
]  # fmt: skip
MAIN_CHANNELS = [("ads", 8), ("seo", 6), ("referral", 4), ("partner", 3), ("events", 2)]
TAIL_CHANNELS = [(f"affiliate-{i:02d}", 3) for i in range(20)]  # beyond the cap of 20
CURRENCIES = [("USD", 14), ("EUR", 3), ("GBP", 2), ("JPY", 1)]
RATES = {"EUR": 1.08, "GBP": 1.27, "JPY": 0.0067}
PRICES = {"USD": 4900, "EUR": 4500, "GBP": 3900, "JPY": 7000}  # per month, minor units
INTERVALS = [("month", 10), ("year", 3), ("quarter", 2), ("week", 1), ("day", 1)]
MONTHS = {"day": 12 / 365, "week": 12 / 52, "month": 1, "quarter": 3, "year": 12}
PLANS = ["starter", "pro", "team", "enterprise"]
FEATURES = ["reports", "export", "api", "alerts", "billing", "sso"]


@dataclass(frozen=True)
class V2Config:
    customers: int = 60
    days: int = 90
    seed: int = 1
    start: datetime = datetime(2025, 12, 20, tzinfo=UTC)
    duplicate_every: int = 11  # every n-th line is sent twice
    users_per_customer: int = 3
    backdate: float = 0.08  # share of subscription changes whose ts lies before their log place
    visits_per_day: tuple[int, int] = (3, 9)
    visitor_pool: int = 400  # with the defaults, < 1,000 distinct visitors in 30 days


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


class _Writer:
    """Collects events with a log position; `ts` may differ from the position."""

    def __init__(self, config: V2Config) -> None:
        self.config = config
        self.entries: list[tuple[float, int, bytes]] = []
        self.ids = 0

    def at(self, day: float) -> datetime:
        return self.config.start + timedelta(days=day)

    def emit(self, type_: str, day: float, ts_day: float | None = None, **fields: Any) -> str:
        """Log an event at position `day`; its `ts` is `ts_day` (default: the same).

        Events planned after the end of the history are dropped (not happened yet)."""
        self.ids += 1
        if day >= self.config.days:
            return ""
        event_id = f"v2-{self.ids}"
        moment = self.at(day if ts_day is None else ts_day)
        ts = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"event_id": event_id, "type": type_, "ts": ts}
        body.update({k: v for k, v in fields.items() if v is not ...})
        self.raw(day, orjson.dumps(body))
        return event_id

    def raw(self, day: float, line: bytes) -> None:
        self.entries.append((day, len(self.entries), line))

    def lines(self) -> list[bytes]:
        ordered = [line for _, _, line in sorted(self.entries)]
        out: list[bytes] = []
        for index, line in enumerate(ordered):
            out.append(line)
            if index % self.config.duplicate_every == 3:
                out.append(line)  # the same event twice: counts once
        return out


class _Customer:
    def __init__(self, index: int, rng: random.Random, config: V2Config) -> None:
        self.index = index
        self.id = f"cust-{index:03d}"
        self.rng = rng
        self.arrival = rng.uniform(0, config.days * 0.85)
        self.currency = _pick(rng, CURRENCIES)
        self.subs: dict[str, dict[str, Any]] = {}  # id -> {"live", "scheduled", ...}
        self.tickets = 0
        self.open: list[str] = []
        self.users = [f"{self.id}-u{k}" for k in range(config.users_per_customer)]
        # Some customers use the product rarely, or stop: at-risk candidates.
        self.engagement = rng.choice([0.4, 0.4, 0.3, 0.1, 0.0])
        self.quiet_after = rng.uniform(config.days * 0.5, config.days * 1.5)


class _History:
    def __init__(self, config: V2Config) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.out = _Writer(config)
        self.customers = [_Customer(i, self.rng, config) for i in range(config.customers)]

    # -- subscriptions

    def price(self, customer: _Customer, interval: str) -> int:
        monthly = PRICES[customer.currency] * self.rng.choice([1, 1, 2, 3, 5])
        return max(1, round(monthly * MONTHS[interval]))

    def start_sub(self, c: _Customer, day: float, sub: str, trial: bool) -> None:
        interval = _pick(self.rng, INTERVALS)
        plan = self.rng.choice(PLANS)
        extra = {"quantity": self.rng.randint(1, 5)} if self.rng.random() < 0.5 else {}
        fields = {"customer_id": c.id, "subscription_id": sub}
        if trial:
            self.out.emit("trial.started", day, **fields, plan=plan)
            day += self.rng.uniform(5, 15)
            if self.rng.random() < 0.3:
                self.out.emit("trial.ended", day, **fields)
                return
        amount = self.price(c, interval)
        self.out.emit(
            "subscription.started", day, **fields, plan=plan, amount=amount,
            currency=c.currency, interval=interval, **extra,
        )  # fmt: skip
        c.subs[sub] = {"live": True, "scheduled": False, "amount": amount, "paused": False}

    def change(self, type_: str, day: float, **fields: Any) -> None:
        """A subscription event of one customer, sometimes with a `ts` up to 3 days
        before its place in the log (SPEC §3: log order applies, `ts` picks the day)."""
        ts_day = None
        if self.rng.random() < self.config.backdate:
            ts_day = day - self.rng.uniform(0.1, 3)
        self.out.emit(type_, day, ts_day, **fields)

    def life_event(self, c: _Customer, day: float) -> None:
        """One random change to one of the customer's subscriptions."""
        rng = self.rng
        sub = rng.choice(sorted(c.subs))
        state, fields = c.subs[sub], {"customer_id": c.id, "subscription_id": sub}
        roll = rng.random()
        if not state["live"]:
            if roll < 0.4:  # a restart after cancel: reactivation, schedule cleared
                interval = _pick(rng, INTERVALS)
                amount = self.price(c, interval)
                self.out.emit(
                    "subscription.started", day, **fields, plan=rng.choice(PLANS),
                    amount=amount, currency=c.currency, interval=interval,
                )  # fmt: skip
                state.update(live=True, scheduled=False, amount=amount, paused=False)
            return
        if state["paused"]:
            self.change("subscription.resumed", day, **fields)
            state["paused"] = False
        elif roll < 0.25:
            factor = rng.choice([0.5, 0.8, 1.25, 1.5, 2.0])
            state["amount"] = max(1, int(state["amount"] * factor))
            self.change("subscription.changed", day, **fields, amount=state["amount"])
        elif roll < 0.32:
            self.change("subscription.changed", day, **fields, plan=rng.choice(PLANS))
        elif roll < 0.37:
            self.change("subscription.changed", day, **fields, quantity=rng.randint(1, 9))
        elif roll < 0.55 and not state["scheduled"]:
            self.schedule(c, day, sub)
        elif roll < 0.62:
            self.change("subscription.paused", day, **fields)
            state["paused"] = True
        elif roll < 0.75:
            reason = rng.choice(["payment_failed", "too_expensive", ...])
            self.change("subscription.canceled", day, **fields, reason=reason)
            state.update(live=False, scheduled=False)

    def schedule(self, c: _Customer, day: float, sub: str) -> None:
        """cancel_at_period_end: later withdrawn, honoured, or left pending."""
        fields = {"customer_id": c.id, "subscription_id": sub}
        state = c.subs[sub]
        if self.rng.random() < 0.3:  # with an amount change in the same event
            state["amount"] = max(1, state["amount"] // 2)
            self.out.emit(
                "subscription.changed", day, **fields, amount=state["amount"],
                cancel_at_period_end=True,
            )  # fmt: skip
        else:
            self.change("subscription.changed", day, **fields, cancel_at_period_end=True)
        state["scheduled"] = True
        later = day + self.rng.uniform(1, 20)
        if later >= self.config.days:
            return
        outcome = self.rng.random()
        if outcome < 0.35:
            self.change("subscription.changed", later, **fields, cancel_at_period_end=False)
            state["scheduled"] = False
        elif outcome < 0.7:
            self.change("subscription.canceled", later, **fields)
            state.update(live=False, scheduled=False)
        # else: still pending at the end (counts in committed MRR / pending cancellations)

    # -- one customer's whole life

    def customer(self, c: _Customer) -> None:
        rng, day = self.rng, c.arrival
        attributes: dict[str, Any] = {}
        if rng.random() < 0.85:
            attributes["country"] = _pick(rng, COUNTRIES)
        if rng.random() < 0.8:
            channels = MAIN_CHANNELS + TAIL_CHANNELS  # every channel in turn: more than 20
            attributes["channel"] = channels[c.index % len(channels)][0]
        if attributes:
            self.out.emit("customer.updated", day, customer_id=c.id, **attributes)
        self.start_sub(c, day + 0.01, "s1", trial=rng.random() < 0.4)
        if rng.random() < 0.25:
            self.start_sub(c, day + rng.uniform(1, 20), "s2", trial=False)
        t = day + 1
        while t < self.config.days - 0.5:
            if c.subs and rng.random() < 0.09:
                self.life_event(c, t)
            if rng.random() < 0.03:  # moves country or channel, often inside the window
                key = rng.choice(["country", "channel"])
                value = _pick(rng, COUNTRIES if key == "country" else MAIN_CHANNELS + TAIL_CHANNELS)
                self.out.emit("customer.updated", t, customer_id=c.id, **{key: value})
            self.payments(c, t)
            self.support(c, t)
            self.usage(c, t)
            t += 1

    def payments(self, c: _Customer, day: float) -> None:
        live = [s for s in c.subs.values() if s["live"] and not s["paused"]]
        if not live or self.rng.random() > 0.06:
            return
        amount = live[0]["amount"]
        fields = {"customer_id": c.id, "amount": amount, "currency": c.currency}
        roll = self.rng.random()
        if roll < 0.15:
            self.out.emit("payment.failed", day, **fields)
        else:
            self.out.emit("payment.succeeded", day, **fields, invoice_id=f"in-{self.out.ids}")
            if roll > 0.93:
                refund = {**fields, "amount": amount // 2}
                self.out.emit("payment.refunded", day + 0.2, **refund)

    def support(self, c: _Customer, day: float) -> None:
        rng = self.rng
        if rng.random() < 0.05:
            if rng.random() < 0.15:
                self.out.emit("ticket.opened", day, customer_id=c.id)  # no ticket_id
            else:
                c.tickets += 1
                ticket = f"t{c.tickets}"
                self.ticket(c, day, ticket)
        if rng.random() < 0.004:  # a reply to a ticket never opened: unknown_ticket
            self.out.emit("ticket.replied", day, customer_id=c.id, ticket_id="t-never")
        if rng.random() < 0.02:
            self.out.emit("nps.response", day, customer_id=c.id, score=rng.randint(0, 10))

    def ticket(self, c: _Customer, day: float, ticket: str) -> None:
        """Open, maybe re-open while open, reply (first one counts), resolve, CSAT."""
        rng, fields = self.rng, {"customer_id": c.id, "ticket_id": ticket}
        self.out.emit("ticket.opened", day, **fields)
        if rng.random() < 0.15:  # opened again while open: counted, keeps the first time
            self.out.emit("ticket.opened", day + 0.05, **fields)
        reply = day + rng.uniform(0.01, 0.5)
        if rng.random() < 0.1:  # a reply whose ts lies before the opening: 0 hours
            self.out.emit("ticket.replied", reply, ts_day=day - 0.02, **fields)
        elif rng.random() < 0.85:
            self.out.emit("ticket.replied", reply, **fields)
        for _ in range(rng.randint(0, 2)):  # later replies are ignored
            reply += rng.uniform(0.05, 1)
            self.out.emit("ticket.replied", reply, **fields)
        if rng.random() < 0.2:
            return  # still open at the end
        done = reply + rng.uniform(0.1, 4)
        backdated = day - 0.1 if rng.random() < 0.05 else None  # resolved "before" opened: 0 h
        self.out.emit("ticket.resolved", done, backdated, **fields)
        if rng.random() < 0.15:  # resolved twice: unknown_ticket
            self.out.emit("ticket.resolved", done + 0.1, **fields)
        if rng.random() < 0.6:
            self.out.emit("csat.response", done + 0.2, customer_id=c.id, score=rng.randint(1, 5))
        if rng.random() < 0.1:  # the same id opened again after its resolution
            self.out.emit("ticket.opened", done + 1, **fields)
            self.out.emit("ticket.replied", done + 1.1, **fields)

    def usage(self, c: _Customer, day: float) -> None:
        events = []
        if day > c.quiet_after:
            return
        for user in c.users:
            if self.rng.random() < c.engagement:
                feature = self.rng.choice(FEATURES)
                events.append((user, feature))
        if not events:
            return
        bodies = []
        for user, feature in events:
            self.out.ids += 1
            ts = self.out.at(day + 0.3).strftime("%Y-%m-%dT%H:%M:%SZ")
            bodies.append(
                {"event_id": f"v2-{self.out.ids}", "type": "usage", "ts": ts,
                 "user_id": user, "customer_id": c.id, "feature": feature}
            )  # fmt: skip
        if len(bodies) > 1 and self.rng.random() < 0.5:
            self.out.raw(day + 0.3, orjson.dumps(bodies))  # a batch
        else:
            for one in bodies:
                self.out.raw(day + 0.3, orjson.dumps(one))

    # -- the business around the customers

    def business(self) -> None:
        rng, out = self.rng, self.out
        for currency, rate in RATES.items():
            out.emit("fx.rate", -1, currency=currency, rate=rate)
        for day in range(self.config.days):
            if day % 10 == 5:
                for currency, rate in RATES.items():
                    out.emit(
                        "fx.rate",
                        day,
                        currency=currency,
                        rate=round(rate * rng.uniform(0.95, 1.05), 6),
                    )
            if day % 7 == 0:
                out.emit("cash.balance", day, amount=rng.randint(10**8, 10**9), currency="USD")
            for _ in range(rng.randint(0, 3)):
                out.emit(
                    "lead.created",
                    day + 0.4,
                    lead_id=f"lead-{out.ids}",
                    channel=_pick(rng, MAIN_CHANNELS),
                )
            for _ in range(rng.randint(0, 2)):
                channel = _pick(rng, MAIN_CHANNELS + TAIL_CHANNELS) if rng.random() < 0.8 else ...
                out.emit("signup", day + 0.5, user_id=f"user-{out.ids}", channel=channel)
            for _ in range(rng.randint(*self.config.visits_per_day)):
                visitor = f"visitor-{rng.randint(0, self.config.visitor_pool)}"
                out.emit("visit", day + 0.6, visitor_id=visitor)
            self.spend(day)

    def spend(self, day: int) -> None:
        rng, out = self.rng, self.out
        for category in ("sales", "marketing"):
            channel = _pick(rng, MAIN_CHANNELS + TAIL_CHANNELS) if rng.random() < 0.85 else ...
            currency = "EUR" if rng.random() < 0.2 else "USD"
            out.emit(
                "spend",
                day + 0.7,
                category=category,
                amount=rng.randint(5000, 90000),
                currency=currency,
                channel=channel,
            )
        if day % 3 == 0:
            out.emit(
                "spend", day + 0.7, category="cogs", amount=rng.randint(1000, 20000), currency="USD"
            )
            out.emit(
                "spend",
                day + 0.7,
                category="opex",
                amount=rng.randint(10000, 50000),
                currency="GBP",
            )

    def bad_lines(self) -> None:
        """Malformed and state-rejected lines of v1 and v2, spread over the history."""
        ts = self.out.at(self.config.days / 2).strftime("%Y-%m-%dT%H:%M:%SZ")
        c = self.customers[0].id
        common = {"ts": ts}
        bad: list[Any] = [
            b"this is not json",
            b"[]",
            [{"event_id": "bad-b1", "type": "usage", **common, "user_id": "u"}],
            {"event_id": "bad-1", "type": "payment.succeeded", **common, "customer_id": c, "amount": -5, "currency": "USD"},
            {"event_id": "bad-2", "type": "subscription.canceled", **common, "customer_id": c, "subscription_id": "never"},
            {"event_id": "bad-3", "type": "payment.succeeded", **common, "customer_id": c, "amount": 100, "currency": "CHF"},
            {"event_id": "bad-4", "type": "customer.updated", **common, "customer_id": c, "country": "de"},
            {"event_id": "bad-5", "type": "customer.updated", **common, "customer_id": c, "channel": "x" * 65},
            {"event_id": "bad-6", "type": "csat.response", **common, "customer_id": c, "score": 6},
            {"event_id": "bad-7", "type": "subscription.changed", **common, "customer_id": c, "subscription_id": "s1", "cancel_at_period_end": "true"},
            {"event_id": "bad-8", "type": "ticket.resolved", **common, "customer_id": c, "ticket_id": "t-nope"},
            {"event_id": "bad-9", "type": "ticket.opened", **common, "customer_id": c, "ticket_id": 5},
            {"event_id": "bad-10", "type": "signup", **common},
            {"event_id": "bad-11", "type": "customer.updated", **common, "customer_id": c, "country": 49},
        ]  # fmt: skip
        for index, item in enumerate(bad):
            line = item if isinstance(item, bytes) else orjson.dumps(item)
            self.out.raw(self.config.days * (index + 1) / (len(bad) + 1), line)

    def run(self) -> list[bytes]:
        for customer in self.customers:
            self.customer(customer)
        self.business()
        self.bad_lines()
        return self.out.lines()


def history(config: V2Config | None = None) -> list[bytes]:
    """The JSONL lines of one adversarial v2 history (same config, same bytes)."""
    return _History(config or V2Config()).run()
