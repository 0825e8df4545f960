"""Deterministic synthetic workloads for the benchmark (SPEC §2 events, seeded).

Every generator yields `(key, value)` pairs ready for the producer: the key the
SPEC prescribes for the topic (§1) and the UTF-8 JSON value. The same seed and
size always give the same bytes.

- `usage_events`: valid `usage` events of `users` users of `customers`
  customers on `FEATURES` features, `ts` rising over `days` days with an hour
  of jitter (a stream roughly in event-time order, as a live feed or a
  backfill would be).
- `batched`: the same events as JSON arrays of `size` events (SPEC §2.4),
  keyed by the first event's `user_id` like `streamkpi ingest` does.
- `subscription_events`: `subscription.started/changed/canceled` over
  `customers` customers; every change and cancel refers to a subscription
  that started before it (no rejections), `ts` strictly increasing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson

Message = tuple[bytes, bytes]

FEATURES = tuple(f"feature-{i}" for i in range(8))
PLANS = (("starter", 2900), ("team", 9900), ("business", 29900), ("enterprise", 99900))
INTERVALS = ("month", "month", "month", "year")
DAY = 86_400
# The workloads' event time: the 30 days before 2026-03-01 (UTC).
END_TS = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_events(
    count: int,
    users: int = 100_000,
    customers: int = 5_000,
    days: int = 30,
    seed: int = 1,
    id_prefix: str = "u",
    distinct_users: bool = False,
) -> Iterator[dict[str, object]]:
    """`count` usage events; `distinct_users`: user i is the i-th event's user (all distinct)."""
    rng = random.Random(seed)
    start = END_TS - days * DAY
    span = days * DAY
    for i in range(count):
        user = i if distinct_users else rng.randrange(users)
        ts = start + span * i / max(1, count) + rng.uniform(-3600, 3600)
        ts = min(max(ts, start), END_TS - 1)
        yield {
            "event_id": f"{id_prefix}{seed}-{i}",
            "type": "usage",
            "ts": rfc3339(ts),
            "user_id": f"user-{user}",
            "customer_id": f"cust-{user % customers}",
            "feature": FEATURES[rng.randrange(len(FEATURES))],
        }


def _dumps(obj: object) -> bytes:
    """orjson.dumps, copied: orjson's result keeps a ~4 KiB buffer for any size (measured with
    orjson 3.13), so a list of 300k small messages would hold 1.2 GB instead of 60 MB."""
    return bytes(memoryview(orjson.dumps(obj)))


def single(events: Iterator[dict[str, object]], key_field: str) -> Iterator[Message]:
    for event in events:
        yield str(event[key_field]).encode(), _dumps(event)


def batched(
    events: Iterator[dict[str, object]], size: int = 100, key_field: str = "user_id"
) -> Iterator[Message]:
    batch: list[dict[str, object]] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield str(batch[0][key_field]).encode(), _dumps(batch)
            batch = []
    if batch:
        yield str(batch[0][key_field]).encode(), _dumps(batch)


def subscription_events(
    count: int,
    customers: int = 20_000,
    days: int = 30,
    seed: int = 2,
    no_currency_share: float = 0.2,
) -> Iterator[dict[str, object]]:
    """`count` valid subscription events; the first touch of a customer starts a subscription.

    Afterwards a customer with a live subscription gets `subscription.changed`
    (72 %; new plan/amount/quantity, a `no_currency_share` of them without
    `currency`, which SPEC §2.1 allows) or `subscription.canceled` (28 %, a tenth of them
    `payment_failed`); a customer whose subscription was canceled starts a new
    one (a reactivation).
    """
    rng = random.Random(seed)
    start = END_TS - days * DAY
    step = days * DAY / max(1, count)
    live: dict[int, tuple[str, int, int]] = {}  # customer -> (subscription, plan, quantity)
    generation: dict[int, int] = {}
    for i in range(count):
        customer = rng.randrange(customers)
        cid = f"cust-{customer}"
        event: dict[str, object] = {
            "event_id": f"s{seed}-{i}",
            "ts": rfc3339(start + i * step),
            "customer_id": cid,
        }
        current = live.get(customer)
        if current is None:
            n = generation[customer] = generation.get(customer, 0) + 1
            sub = f"sub-{customer}-{n}"
            plan, quantity = rng.randrange(len(PLANS)), rng.randint(1, 5)
            live[customer] = (sub, plan, quantity)
            name, price = PLANS[plan]
            event.update(
                type="subscription.started",
                subscription_id=sub,
                plan=name,
                amount=price * quantity,
                currency="USD",
                interval=INTERVALS[rng.randrange(len(INTERVALS))],
                quantity=quantity,
            )
        elif rng.random() < 0.72:
            sub, plan, quantity = current
            plan = min(len(PLANS) - 1, max(0, plan + rng.choice((-1, 1, 1))))
            quantity = max(1, quantity + rng.choice((-1, 0, 1, 2)))
            live[customer] = (sub, plan, quantity)
            name, price = PLANS[plan]
            event.update(
                type="subscription.changed",
                subscription_id=sub,
                plan=name,
                amount=price * quantity,
                quantity=quantity,
            )
            if rng.random() >= no_currency_share:
                event["currency"] = "USD"
        else:
            sub = current[0]
            del live[customer]
            event.update(type="subscription.canceled", subscription_id=sub)
            if rng.random() < 0.1:
                event["reason"] = "payment_failed"
        yield event


def marker_event(index: int, ts: float, tag: str) -> dict[str, object]:
    """A `subscription.started` of a brand-new customer (the latency probe)."""
    return {
        "event_id": f"marker-{tag}-{index}",
        "type": "subscription.started",
        "ts": rfc3339(ts),
        "customer_id": f"marker-{tag}-{index}",
        "subscription_id": f"marker-sub-{tag}-{index}",
        "plan": "team",
        "amount": 9900,
        "currency": "USD",
        "interval": "month",
        "quantity": 1,
    }
