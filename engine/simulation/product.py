"""What happens around the subscriptions on the product side: usage, visits, signups, leads.

- Usage: each user has a daily propensity (a few power users, many occasional
  ones); the customer's engagement, weekends and a pause scale it. This sets
  DAU/MAU (stickiness) and the at-risk customers.
- Funnel: anonymous website visits; every arriving account is a visit then a
  `signup` of its first user (with the account's channel) just before it shows
  up in billing, and about as many free-plan signups never become an account;
  visits are sized so that roughly 3-4 % of unique visitors sign up. Leads
  (`lead.created` with a channel) come about 4 per expected new account.
"""

from __future__ import annotations

import random
from datetime import date

from engine.simulation.accounts import Customer
from engine.simulation.catalog import CHANNEL_ORDER, CHANNELS
from engine.simulation.timeline import DayLog, poisson, time_of_day

FEATURES = {"dashboards": 40.0, "reports": 25.0, "alerts": 12.0, "export": 10.0, "api": 13.0}
LAUNCHED_FEATURE = "ai-assistant"
VISITS_PER_SIGNUP = 45.0
FREE_SIGNUPS_PER_ACCOUNT = 1.0
LEADS_PER_ACCOUNT = 4.0


def weekday_factor(today: date, weekend: float) -> float:
    return weekend if today.weekday() >= 5 else 1.0


class Product:
    """Product usage by the customers' users."""

    def __init__(self, rng: random.Random, launch_day: int) -> None:
        self.rng, self.launch_day = rng, launch_day

    def features(self, day: int) -> tuple[list[str], list[float]]:
        """The feature mix of the day; one feature launches mid-history and catches on."""
        mix = dict(FEATURES)
        if day >= self.launch_day:
            mix[LAUNCHED_FEATURE] = min(20.0, 2.0 + 0.5 * (day - self.launch_day))
        return list(mix), list(mix.values())

    def usage(self, day: int, today: date, log: DayLog, customers: list[Customer]) -> int:
        """About 1-3 events per active user; returns how many were emitted."""
        rng, count = self.rng, 0
        names, weights = self.features(day)
        weekday = weekday_factor(today, 0.6)
        for cust in customers:
            live = cust.live()
            if not live:
                continue
            paused = all(sub.state == "paused" for sub in live)
            base = (0.4 + 0.8 * cust.engagement) * weekday * (0.15 if paused else 1.0)
            for n, propensity in enumerate(cust.users):
                if rng.random() >= min(0.95, base * propensity):
                    continue
                second = time_of_day(rng)
                for _ in range(rng.choice((1, 1, 2, 2, 2, 3))):
                    second += rng.randint(0, 900)
                    feature = rng.choices(names, weights)[0]
                    log.add(second, "usage", user_id=cust.user_id(n), customer_id=cust.id,
                            feature=feature)  # fmt: skip
                    count += 1
        return count


class Funnel:
    """Visitors, signups and leads, sized from the expected number of new accounts."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.visitors: list[str] = []
        self.numbers = {"lead": 0, "free": 0}

    def day(
        self, today: date, log: DayLog, arrived: list[tuple[Customer, int]], expected: float
    ) -> None:
        """The day's visits, signups (the day's arrivals and free ones) and leads."""
        for cust, second in arrived:
            visit = self._visit(log, second - self.rng.randint(300, 3600))
            log.add(max(visit, second - self.rng.randint(5, 240)), "signup",
                    user_id=cust.user_id(0), channel=cust.channel)  # fmt: skip
        for _ in range(poisson(self.rng, expected * FREE_SIGNUPS_PER_ACCOUNT)):
            self.numbers["free"] += 1
            second = self._visit(log, time_of_day(self.rng))
            user = f"u-free-{self.numbers['free']:06d}"
            log.add(second + self.rng.randint(30, 900), "signup", user_id=user,
                    channel=self._channel())  # fmt: skip
        signups = expected * (1 + FREE_SIGNUPS_PER_ACCOUNT)
        for _ in range(poisson(self.rng, signups * VISITS_PER_SIGNUP * weekday_factor(today, 0.6))):
            self._visit(log, time_of_day(self.rng))
        for _ in range(poisson(self.rng, expected * LEADS_PER_ACCOUNT)):
            self.numbers["lead"] += 1
            log.add(time_of_day(self.rng), "lead.created",
                    lead_id=f"l-{self.numbers['lead']:06d}", channel=self._channel())  # fmt: skip

    def _channel(self) -> str:
        return self.rng.choices(CHANNEL_ORDER, [c.weight for c in CHANNELS.values()])[0]

    def _visit(self, log: DayLog, second: int) -> int:
        """A website visit, about a third by a returning visitor; returns its second."""
        rng = self.rng
        if self.visitors and rng.random() < 0.35:
            visitor = rng.choice(self.visitors)
        else:
            visitor = f"v-{rng.getrandbits(48):012x}"
            self.visitors.append(visitor)
            if len(self.visitors) > 5000:
                del self.visitors[:1000]
        return log.add(second, "visit", visitor_id=visitor)
