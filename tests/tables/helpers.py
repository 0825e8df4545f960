"""Event builders with fixed timestamps for table tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from events import types as t
from events.codec import decode
from events.schema import topic_of

BASE = datetime(2026, 3, 1, tzinfo=UTC)
_ids = itertools.count()


def ts(day: int, seconds: int = 0) -> str:
    return (BASE + timedelta(days=day, seconds=seconds)).isoformat().replace("+00:00", "Z")


def ev(
    type_: str, day: int = 0, seconds: int = 0, event_id: str | None = None, **fields: Any
) -> t.Event:
    body = {
        "event_id": event_id or f"e{next(_ids)}",
        "type": type_,
        "ts": ts(day, seconds),
        **fields,
    }
    [event] = decode(orjson.dumps(body), topic_of(type_) or "business")
    assert isinstance(event, t.Event), event
    return event


def started(
    cid: str,
    sid: str,
    amount: int,
    day: int = 0,
    interval: str = "month",
    plan: str = "pro",
    currency: str = "USD",
    **kw: Any,
) -> t.Event:
    return ev(
        "subscription.started",
        day,
        customer_id=cid,
        subscription_id=sid,
        plan=plan,
        amount=amount,
        currency=currency,
        interval=interval,
        **kw,
    )


def sub_event(kind: str, cid: str, sid: str, day: int = 0, **kw: Any) -> t.Event:
    return ev(f"subscription.{kind}", day, customer_id=cid, subscription_id=sid, **kw)
