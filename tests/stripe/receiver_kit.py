"""Helpers for the receiver tests: Stripe-shaped objects, signed deliveries, a real
`streamkpi stripe webhook` process, and reading back what reached a topic."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import stripe
from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.broker import free_port, stop_process
from tests import reference

SECRET = "whsec_receiver_tests_0123456789"
TOKEN = "collector-token-for-the-tests"
T0 = 1_780_000_000  # Stripe `created` of the first event of a history (2026-05-28)
PATIENCE = 240.0
# the console script, as an operator runs it (under `python -m engine.cli` the CLI's
# UsageError is __main__.UsageError, not the one engine.stripe raises)
STREAMKPI = str(Path(sys.executable).with_name("streamkpi"))


def subscription(
    sub_id: str,
    customer: str,
    status: str = "active",
    amount: int = 2000,
    interval: str = "month",
    quantity: int = 1,
    lookup_key: str = "basic",
    cancel_at_period_end: bool = False,
) -> dict[str, Any]:
    """A Stripe `subscription` object with one licensed item (stripe/openapi layout)."""
    price = {
        "id": f"price_{lookup_key}_{amount}",
        "object": "price",
        "currency": "usd",
        "lookup_key": lookup_key,
        "product": f"prod_{lookup_key}",
        "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
        "unit_amount": amount,
    }
    item = {
        "id": f"si_{sub_id}",
        "object": "subscription_item",
        "price": price,
        "quantity": quantity,
    }
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "currency": "usd",
        "cancel_at_period_end": cancel_at_period_end,
        "discount": None,
        "items": {"object": "list", "data": [item], "has_more": False},
    }


def invoice_paid(invoice_id: str, customer: str, amount: int) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "currency": "usd",
        "amount_paid": amount,
        "amount_due": amount,
        "status": "paid",
    }


def event(event_id: str, kind: str, created: int, obj: dict[str, Any]) -> bytes:
    """A Stripe `event` object as the bytes Stripe would POST."""
    body = {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "livemode": False,
        "type": kind,
        "data": {"object": obj},
    }
    return orjson.dumps(body)


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Headers of a delivery signed by the `stripe` package itself."""
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """(status, decoded JSON body) of a POST; never raises on an HTTP error status."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        return exc.code, orjson.loads(payload) if payload else None


class ReceiverProcess:
    """`python -m engine.cli stripe webhook` on a free port, as an operator runs it."""

    def __init__(self, bootstrap: str, prefix: str, log: Path, **env: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.log = log
        self.env = {
            "STREAMKPI_STRIPE_WEBHOOK_SECRET": SECRET,
            "STREAMKPI_COLLECTOR_TOKEN": TOKEN,
            **env,
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ReceiverProcess:
        cmd = [
            STREAMKPI,
            "stripe",
            "webhook",
            "--bootstrap",
            self.bootstrap,
            "--prefix",
            self.prefix,
            "--port",
            str(self.port),
            "--log-level",
            "info",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name in ("STREAMKPI_STRIPE_WEBHOOK_SECRET", "STREAMKPI_COLLECTOR_TOKEN"):
            env.pop(name, None)
        env.update({k: v for k, v in self.env.items() if v})
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"receiver exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5):
                    return self
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"receiver did not answer /healthz within {PATIENCE}s:\n{self.tail()}")

    def deliver(self, body: bytes, **sign: Any) -> tuple[int, Any]:
        return post(self.url + "/stripe/webhook", body, signed(body, **sign))

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            return reference.parse_exposition(response.read().decode())

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 20)


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, Any]]:
    """(key, decoded value) of every record of `topic` so far, all partitions."""
    return asyncio.run(_read_topic(bootstrap, topic))


async def _read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, Any]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[tuple[bytes | None, Any]] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for records in batches.values():
                out.extend((r.key, orjson.loads(r.value)) for r in records)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


def wait_until(
    scrape: Callable[[], dict[str, float] | None],
    wanted: dict[str, float],
    what: str,
    patience: float = PATIENCE,
) -> dict[str, float]:
    """Poll `scrape` until every wanted sample has its value; fail with what differed."""
    deadline = time.monotonic() + patience
    last: dict[str, float] = {}
    while time.monotonic() < deadline:
        last = scrape() or {}
        if all(last.get(k) == v for k, v in wanted.items()):
            return last
        time.sleep(0.5)
    wrong = {k: (v, last.get(k)) for k, v in wanted.items() if last.get(k) != v}
    pytest.fail(f"{what}: (want, got) {wrong}")
