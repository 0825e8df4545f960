"""The simulated company's books: spend by category and channel, cash, funding rounds.

Costs are budgeted in USD and booked in the reporting currency:
- acquisition: per channel, the expected new paying customers times the
  channel's CAC (catalog.CHANNELS), as `marketing` or `sales` spend carrying its
  `channel`, plus ~15 % of unattributed brand marketing and sales salaries;
- cost of revenue (`cogs`): hosting and support at ~16 % of MRR, a little per
  usage event, and card fees of ~3 % of receipts (gross margin ~75-80 %);
- operating expenses (`opex`, R&D and G&A): payroll twice a month and rent,
  growing with MRR from a floor set by the configured business size.
Cash closes every day as `cash.balance`; when the runway left at the last 30
days' burn falls under 12 months, a funding round adds two years of it.
"""

from __future__ import annotations

import random
from collections import deque
from datetime import date

from engine.simulation.catalog import CHANNELS
from engine.simulation.market import FxMarket
from engine.simulation.timeline import DAY_SECONDS, DayLog, time_of_day
from engine.simulation.world import World

Cost = tuple[str, int, int, str | None]  # category, USD cents, second of day, channel
UNATTRIBUTED = 0.15  # share of acquisition spend on no channel (brand, sales team base)
HOSTING_SHARE = 0.15  # cogs per MRR: hosting, support and success staff
BILLING_COSTS = 0.08  # cogs per receipt: card fees, per-invoice licences, marketplace fees


class Books:
    """Spend, cash and funding of the simulated company."""

    def __init__(self, rng: random.Random, fx: FxMarket, currency: str, scale: int) -> None:
        self.rng, self.fx, self.currency = rng, fx, currency
        self.floor = 1_500 * scale  # USD cents of payroll per half month, whatever the MRR
        self.cash = fx.convert(60 * self.floor, "USD", currency)
        self.burn: deque[float] = deque(maxlen=30)  # reporting currency, per day

    def close_day(self, today: date, log: DayLog, world: World, usage: int, new: float) -> None:
        """Book the day's costs, then the closing cash (with a round when the runway is short)."""
        fx, currency = self.fx, self.currency
        usd = sum(fx.convert(amount, cur, "USD") for amount, cur in world.receipts)
        receipts = fx.convert(usd, "USD", currency)
        costs = self._costs(today, world, usage, new)
        costs.append(("cogs", round(BILLING_COSTS * usd), 86_000, None))
        spent = sum(self._book(log, cost) for cost in costs if cost[1] >= 1)
        self.cash += receipts - spent
        self.burn.append(spent - receipts)
        monthly = sum(self.burn) if len(self.burn) == self.burn.maxlen else 0.0
        if self.cash < 12 * monthly or self.cash < 0:  # a funding round, never below zero
            least = fx.convert(2 * self.floor, "USD", currency)
            self.cash += round(24 * max(monthly, least) - min(self.cash, 0), -6)
        log.add(DAY_SECONDS - 1, "cash.balance", amount=round(self.cash), currency=currency)

    def _costs(self, today: date, world: World, usage: int, new: float) -> list[Cost]:
        """(category, USD cents, second of day, channel) of everything spent today."""
        rng, mrr = self.rng, world.usd_mrr()
        costs: list[Cost] = []
        weekday = today.weekday() < 5
        for channel in CHANNELS.values():
            share = channel.weight / sum(c.weight for c in CHANNELS.values())
            budget = new * share * channel.cac * rng.uniform(0.6, 1.4)
            if channel.category == "sales":  # sales teams work on weekdays
                budget = budget * 7 / 5 if weekday else 0.0
            if budget >= 1:
                costs.append((channel.category, round(budget), time_of_day(rng), channel.name))
        acquisition = (
            new
            * sum(c.weight * c.cac for c in CHANNELS.values())
            / sum(c.weight for c in CHANNELS.values())
        )
        costs.append(("marketing", round(UNATTRIBUTED / 2 * acquisition), 3_600, None))
        if today.day in (1, 15):
            payroll = max(self.floor, 0.6 * mrr)
            costs += [("sales", round(UNATTRIBUTED * acquisition * 15 / 2), 32_400, None),
                      ("opex", round(payroll), 32_400, None)]  # fmt: skip
        if today.day == 1:
            costs.append(("opex", round(0.2 * max(self.floor, 0.3 * mrr)), 36_000, None))
        if rng.random() < 0.6:
            costs.append(("opex", round(0.002 * self.floor * rng.uniform(1, 10)), time_of_day(rng),
                          None))  # fmt: skip
        costs.append(("cogs", round(HOSTING_SHARE * mrr / 30 + 0.3 * usage + 0.004 * self.floor),
                      82_800, None))  # fmt: skip
        return costs

    def _book(self, log: DayLog, cost: Cost) -> float:
        category, usd_cents, second, channel = cost
        amount = round(self.fx.convert(usd_cents, "USD", self.currency))
        extra = {"channel": channel} if channel else {}
        log.add(second, "spend", category=category, amount=amount, currency=self.currency, **extra)
        return amount
