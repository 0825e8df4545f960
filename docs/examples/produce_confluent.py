"""Send your own events to streamkpi with confluent-kafka (librdkafka) (docs/events.md).

    pip install confluent-kafka
    python produce_confluent.py [BOOTSTRAP] [PREFIX]   # default 127.0.0.1:9092 saas.

`murmur2_random` is the Java (and aiokafka) partitioner: a key lands in the
same partition whichever client sends it, so one customer's events stay in
order even when several producers write them. Reads events.jsonl beside this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from confluent_kafka import Producer

TOPICS = {
    "subscription": "subscriptions",
    "trial": "subscriptions",
    "customer": "subscriptions",
    "payment": "payments",
    "usage": "usage",
    "visit": "usage",
}


def topic_and_key(event: dict, prefix: str) -> tuple[str, str]:
    """The topic and message key of docs/events.md ("Topics and keys")."""
    suffix = TOPICS.get(event["type"].split(".")[0], "business")
    if suffix == "usage":
        key = event.get("user_id") or event["visitor_id"]
    else:
        key = event.get("customer_id") or event["event_id"]
    return prefix + suffix, key


def main(bootstrap: str, prefix: str) -> int:
    events = [json.loads(line) for line in Path(__file__).with_name("events.jsonl").open()]
    producer = Producer(
        {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "acks": "all"}
    )
    failures: list[str] = []

    def delivered(error, message) -> None:  # noqa: ANN001 - librdkafka's callback
        if error is not None:
            failures.append(f"{message.topic()}: {error}")

    for event in events:
        topic, key = topic_and_key(event, prefix)
        producer.produce(topic, json.dumps(event).encode("utf-8"), key=key, on_delivery=delivered)
        print(f"{event['type']:<22} -> {topic} key={key}")
    left = producer.flush(30)
    if left or failures:
        print(f"not delivered: {left} pending, {failures}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(args[0] if args else "127.0.0.1:9092", args[1] if len(args) > 1 else "saas."))
