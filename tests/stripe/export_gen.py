"""A synthetic Stripe Events API export of any size, for `stripe convert`/`import` throughput.

`python -m tests.stripe.export_gen --events 100000 --out export.jsonl` writes
list pages of 100 events, newest first as the API lists them: customers,
subscription lifecycles (trials, upgrades, pauses, past_due, scheduled
cancellations, cancellations), paid and failed invoices, refunds, and the
event types a real account also sends that the mapping ignores.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import orjson

from tests.stripe import objects as so

PRICES = [
    so.price(2900, lookup_key="starter", price_id="price_starter"),
    so.price(9900, lookup_key="pro", price_id="price_pro"),
    so.price(27000, interval_count=3, lookup_key="pro_quarterly", price_id="price_pro_q"),
    so.price(99000, interval="year", lookup_key="pro_yearly", price_id="price_pro_y"),
]
METER = so.price(2, usage_type="metered", price_id="price_api")


class Account:
    """Generates one customer's events at a time; ~12 Stripe events per customer."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, obj: dict[str, Any], at: int) -> None:
        self.events.append(so.event(kind, obj, at, f"evt_{len(self.events):010d}"))

    def customer(self, n: int) -> None:
        rng, cus = self.rng, f"cus_{n:08d}"
        at = so.T0 + rng.randrange(0, 300 * so.DAY)
        country = rng.choice(["US", "DE", "FR", "GB", "NL", None])
        self.add("customer.created", so.customer(cus, country=country, channel="ads"), at)
        price, qty = rng.choice(PRICES), rng.randint(1, 5)
        items = [so.item(price, qty), so.item(METER, None)]
        make = lambda status, **kw: so.subscription(  # noqa: E731
            status, items, sub_id=f"sub_{n:08d}", customer=cus, **kw
        )
        if rng.random() < 0.3:
            self.add("customer.subscription.created", make("trialing"), at)
            at += 14 * so.DAY
        self.add("customer.subscription.created", make("active"), at)
        for month in range(rng.randint(1, 6)):
            at += 30 * so.DAY
            self.invoice_cycle(cus, n, month, price["unit_amount"] * qty, at)
            if rng.random() < 0.1:
                qty += 1
                items[0] = so.item(price, qty)
                self.add("customer.subscription.updated", make("active"), at + 60)
            if rng.random() < 0.05:
                self.add("customer.subscription.updated", make("past_due"), at + 120)
        end = rng.random()
        if end < 0.1:
            self.add(
                "customer.subscription.updated",
                make("active", cancel_at_period_end=True),
                at + 3600,
            )
        elif end < 0.2:
            self.add("customer.subscription.deleted", make("canceled"), at + 7200)
        elif end < 0.25:
            self.add("customer.subscription.paused", make("paused"), at + 7200)

    def invoice_cycle(self, cus: str, n: int, month: int, amount: int, at: int) -> None:
        invoice = so.invoice(
            amount_paid=amount, amount_due=amount, customer=cus, invoice_id=f"in_{n:08d}_{month}"
        )
        self.add("invoice.created", invoice, at)
        self.add("invoice.finalized", invoice, at + 1)
        self.add("invoice.paid", invoice, at + 2)
        if self.rng.random() < 0.03:
            charge = so.charge(
                amount=amount,
                amount_refunded=amount // 2,
                customer=cus,
                charge_id=f"ch_{n:08d}_{month}",
                invoice=invoice["id"],
            )
            self.add("charge.refunded", charge, at + so.DAY)


def generate(events: int, seed: int = 1) -> list[dict[str, Any]]:
    account, n = Account(seed), 0
    while len(account.events) < events:
        account.customer(n)
        n += 1
    return account.events[:events]


def write_pages(events: list[dict[str, Any]], out: Path, per_page: int = 100) -> None:
    newest_first = sorted(events, key=lambda e: (e["created"], e["id"]), reverse=True)
    with out.open("wb") as handle:
        for start in range(0, len(newest_first), per_page):
            page = {
                "object": "list",
                "data": newest_first[start : start + per_page],
                "has_more": start + per_page < len(newest_first),
                "url": "/v1/events",
            }
            handle.write(orjson.dumps(page) + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write_pages(generate(args.events, args.seed), args.out)


if __name__ == "__main__":
    main()
