"""The Quix Streams peer: the benchmark's single-event workloads as Quix Streams jobs.

    python -m bench.peer --bootstrap HOST:PORT --topic T --workload usage|subscriptions
                         --events N [--group G] [--state-dir DIR]

Runs one Quix Streams 3 application (a bench-only dependency: `pip install
.[bench]`) as it is meant to be used -- a `StreamingDataFrame` over a JSON
topic, stateful functions on RocksDB state with changelog topics, the
default at-least-once guarantee -- until it has processed `--events` events,
then stops; the final checkpoint (offset commit, changelog flush, state
flush) is part of the measured time. Prints one JSON line: events, seconds
from the first event to the end of that checkpoint, seconds before it.

What each job does, per event (the same messages the engine reads):
- usage (key `user_id`): the user's state holds the day it was last active
  and the features it used that day; an event that makes the user active on
  a new day, or uses a new feature that day, adds one to the in-process
  per-day counters of active users and of feature users (what the engine's
  daily distinct counters are for).
- subscriptions (key `customer_id`): the customer's state holds the live
  subscription (plan, amount, interval, quantity); each event computes the
  customer's monthly MRR before and after and books the movement (new,
  expansion, contraction, churn, reactivation) into in-process totals.

What it does not do and the engine does: validate against SPEC §2 (it reads
the fields it needs), dedupe by `event_id`, convert currencies, write facts
for other workers, keep usage sketches that are exact when restored, export
anything. The in-process totals are not recovered after a crash (the keyed
state is). It is a fair floor for "a Python stream processor with durable
keyed state", not an equivalent of the engine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

MONTHLY = {"month": 1.0, "year": 1 / 12}


def usage_job() -> tuple[Callable[[dict[str, Any], Any], None], dict[str, Counter[str]]]:
    """A stateful function for usage events and the counters it fills."""
    totals: dict[str, Counter[str]] = {"active": Counter(), "feature": Counter()}

    def track(event: dict[str, Any], state: Any) -> None:
        day = event["ts"][:10]
        if state.get("day") != day:
            state.set("day", day)
            state.set("features", [])
            totals["active"][day] += 1
        features = state.get("features", [])
        if event["feature"] not in features:
            state.set("features", [*features, event["feature"]])
            totals["feature"][f"{day}/{event['feature']}"] += 1

    return track, totals


def mrr(subscription: dict[str, Any] | None) -> float:
    if not subscription:
        return 0.0
    return subscription["amount"] * MONTHLY.get(subscription["interval"], 1.0)


def subscription_job() -> tuple[Callable[[dict[str, Any], Any], None], dict[str, Counter[str]]]:
    """A stateful function for subscription events and the movement totals it books."""
    totals: dict[str, Counter[str]] = {"amount": Counter(), "count": Counter()}

    def book(event: dict[str, Any], state: Any) -> None:
        live = state.get("subscription")
        before = mrr(live)
        kind = event["type"]
        if kind == "subscription.started":
            live = {
                "id": event["subscription_id"],
                "plan": event["plan"],
                "amount": event["amount"],
                "interval": event.get("interval", "month"),
                "quantity": event.get("quantity", 1),
            }
        elif kind == "subscription.changed" and live:
            live = {**live, "plan": event["plan"], "amount": event["amount"]}
            live["quantity"] = event.get("quantity", live["quantity"])
        elif kind == "subscription.canceled":
            live = None
        state.set("subscription", live)
        if live is None:
            state.set("churned", True)
        after = mrr(live)
        movement = _movement(before, after, bool(state.get("churned", False)))
        if movement:
            totals["amount"][movement] += after - before
            totals["count"][movement] += 1

    return book, totals


def _movement(before: float, after: float, churned_before: bool) -> str:
    if before == after:
        return ""
    if before == 0:
        return "reactivation" if churned_before else "new"
    if after == 0:
        return "churn"
    return "expansion" if after > before else "contraction"


JOBS = {"usage": usage_job, "subscriptions": subscription_job}


def run(args: argparse.Namespace) -> dict[str, float]:
    from quixstreams import Application

    state_dir = args.state_dir or tempfile.mkdtemp(prefix="streamkpi-peer-")
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group or f"peer-{args.topic}",
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        state_dir=state_dir,
        use_changelog_topics=True,
        # librdkafka's first JoinGroup waits about half the session timeout
        consumer_extra_config={"session.timeout.ms": 6000},
        loglevel="WARNING",
    )
    topic = app.topic(args.topic, value_deserializer="json", key_deserializer="bytes")
    step, _totals = JOBS[args.workload]()
    seen = {"n": 0, "first": 0.0, "last": 0.0}

    def count(_value: Any) -> None:
        seen["n"] += 1
        if seen["n"] == 1:
            seen["first"] = time.monotonic()
        if seen["n"] >= args.events:
            seen["last"] = time.monotonic()
            app.stop()

    sdf = app.dataframe(topic)
    sdf = sdf.update(step, stateful=True)
    sdf = sdf.update(count)
    app.run()
    end = time.monotonic()
    if seen["n"] < args.events:
        raise RuntimeError(f"peer stopped after {seen['n']}/{args.events} events")
    return {
        "events": seen["n"],
        "seconds": end - seen["first"],
        "seconds_before_checkpoint": seen["last"] - seen["first"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peer", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--workload", choices=sorted(JOBS), required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--group")
    parser.add_argument("--state-dir")
    result = run(parser.parse_args(argv))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
