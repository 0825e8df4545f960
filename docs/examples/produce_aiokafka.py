"""Send your own events to streamkpi with aiokafka (docs/events.md).

    pip install aiokafka
    python produce_aiokafka.py [BOOTSTRAP] [PREFIX]   # default 127.0.0.1:9092 saas.

Each event goes to its type's topic with its key, so that every event of one
customer (or user) stays in order. Reads events.jsonl beside this file.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiokafka import AIOKafkaProducer

# type family -> topic suffix; every other type goes to "business"
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


async def main(bootstrap: str, prefix: str) -> None:
    events = [json.loads(line) for line in Path(__file__).with_name("events.jsonl").open()]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            topic, key = topic_and_key(event, prefix)
            value = json.dumps(event).encode("utf-8")
            await producer.send_and_wait(topic, value, key=key.encode("utf-8"))
            print(f"{event['type']:<22} -> {topic} key={key}")
    finally:
        await producer.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0] if args else "127.0.0.1:9092", args[1] if len(args) > 1 else "saas."))
