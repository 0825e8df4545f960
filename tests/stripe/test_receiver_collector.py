"""POST /events (SPEC §6 "HTTP collector") through a real receiver and the embedded broker."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.broker import EmbeddedBroker
from tests.integration.conftest import broker  # noqa: F401 - the session's embedded broker
from tests.stripe.receiver_kit import STREAMKPI, TOKEN, ReceiverProcess, post, read_topic

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parents[2] / "docs" / "stripe.md"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
TS = "2026-11-30T12:00:00Z"


@pytest.fixture(scope="module")
def receiver(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator:  # noqa: F811
    log = tmp_path_factory.mktemp("collector") / "receiver.log"
    running = ReceiverProcess(broker.bootstrap, f"col{os.getpid()}.", log).start()
    yield running
    running.stop()


def started(event_id: str, customer: str = "c1", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "subscription.started",
        "ts": TS,
        "customer_id": customer,
        "subscription_id": f"s-{event_id}",
        "plan": "pro",
        "amount": 4900,
        "currency": "USD",
        "interval": "month",
        **extra,
    }


def records(receiver: ReceiverProcess, suffix: str) -> list[tuple[bytes | None, Any]]:
    return read_topic(receiver.bootstrap, receiver.prefix + suffix)


def ids_in(receiver: ReceiverProcess, suffix: str) -> set[str]:
    return {value.get("event_id") for _key, value in records(receiver, suffix)}


def test_a_valid_bearer_token_is_required(receiver: ReceiverProcess) -> None:
    body = orjson.dumps(started("auth-1"))
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": f"Bearer {TOKEN}x"},
    ):
        status, answer = post(receiver.url + "/events", body, headers)
        assert status == 401, headers
        assert TOKEN not in orjson.dumps(answer).decode()
    assert "auth-1" not in ids_in(receiver, "subscriptions")
    status, answer = post(receiver.url + "/events", body, AUTH)
    assert (status, answer["accepted"]) == (200, 1)
    assert "auth-1" in ids_in(receiver, "subscriptions")


def test_mixed_batch_each_event_judged_and_routed(receiver: ReceiverProcess) -> None:
    events: list[Any] = [
        started("mix-1", customer="cust-9"),
        {
            "event_id": "mix-2",
            "type": "usage",
            "ts": TS,
            "user_id": "u-7",
            "customer_id": "cust-9",
            "feature": "reports",
        },
        {"event_id": "mix-3", "type": "signup", "ts": TS, "user_id": "u-8", "channel": "ads"},
        {
            "event_id": "mix-4",
            "type": "payment.succeeded",
            "ts": TS,
            "customer_id": "cust-9",
            "currency": "USD",
        },
        {"event_id": "mix-5", "type": "party.started", "ts": TS},
        started("mix-6", amount=-5),
        {
            "event_id": "mix-7",
            "type": "csat.response",
            "ts": TS,
            "customer_id": "cust-9",
            "score": 9,
        },
        {
            "event_id": "mix-8",
            "type": "customer.updated",
            "ts": TS,
            "customer_id": "cust-9",
            "country": "DE",
        },
        42,
    ]
    status, answer = post(receiver.url + "/events", orjson.dumps(events), AUTH)
    assert status == 200
    outcomes = [(r["event_id"], r["outcome"], r.get("reason")) for r in answer["results"]]
    assert outcomes == [
        ("mix-1", "accepted", None),
        ("mix-2", "accepted", None),
        ("mix-3", "accepted", None),
        ("mix-4", "rejected", "missing_field"),
        ("mix-5", "rejected", "unknown_type"),
        ("mix-6", "rejected", "negative_amount"),
        ("mix-7", "rejected", "invalid_value"),
        ("mix-8", "accepted", None),
        (None, "rejected", "not_an_object"),
    ]
    assert (answer["accepted"], answer["rejected"]) == (4, 5)
    keys = {
        v["event_id"]: k
        for suffix in ("subscriptions", "usage", "business")
        for k, v in records(receiver, suffix)
    }
    assert keys["mix-1"] == b"cust-9" and keys["mix-8"] == b"cust-9"  # subscriptions: customer_id
    assert keys["mix-2"] == b"u-7"  # usage: user_id
    assert keys["mix-3"] == b"mix-3"  # business without customer_id: event_id
    assert not {"mix-4", "mix-5", "mix-6", "mix-7"} & keys.keys()
    dead = [v for _k, v in records(receiver, "rejected") if v["topic"] == "http:/events"]
    reasons = sorted(v["reason"] for v in dead if "mix-" in v["raw"] or v["raw"] == "42")
    assert reasons == [
        "invalid_value",
        "missing_field",
        "negative_amount",
        "not_an_object",
        "unknown_type",
    ]
    metrics = receiver.metrics()
    assert metrics['saas_collector_rejected_total{reason="unknown_type"}'] >= 1
    assert metrics['saas_collector_events_total{outcome="accepted"}'] >= 4


def test_one_object_is_one_event(receiver: ReceiverProcess) -> None:
    status, answer = post(receiver.url + "/events", orjson.dumps(started("single-1")), AUTH)
    assert status == 200
    assert answer["results"] == [{"event_id": "single-1", "outcome": "accepted"}]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[]", 400, "empty_batch"),
        (b'"a string"', 400, "not_an_object"),
        (b"[" + b" " * (1 << 20) + b"]", 413, None),
    ],
)
def test_unusable_bodies_produce_nothing(
    receiver: ReceiverProcess, body: bytes, status: int, error: str | None
) -> None:
    before = len(records(receiver, "rejected"))
    got, answer = post(receiver.url + "/events", body, AUTH)
    assert got == status
    if error:
        assert answer["error"] == error
    assert len(records(receiver, "rejected")) == before


def test_curl_example_of_the_docs(receiver: ReceiverProcess) -> None:
    """The `curl` block of docs/stripe.md, run as written against the running receiver."""
    text = DOCS.read_text()
    block = re.search(r"<!-- collector-curl -->\s*```sh\n(.*?)```", text, re.S)
    assert block, "docs/stripe.md lost its collector curl example"
    script = block.group(1).replace("http://127.0.0.1:8787", receiver.url)
    env = {**os.environ, "STREAMKPI_COLLECTOR_TOKEN": TOKEN}
    done = subprocess.run(["bash", "-c", script], capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    answer = orjson.loads(done.stdout)
    assert answer["rejected"] == 0 and answer["accepted"] >= 2, answer
    sent = {r["event_id"] for r in answer["results"]}
    assert sent <= ids_in(receiver, "business") | ids_in(receiver, "usage") | ids_in(
        receiver, "subscriptions"
    )


def test_collector_is_off_without_its_token(broker: EmbeddedBroker, tmp_path: Path) -> None:  # noqa: F811
    only_webhook = ReceiverProcess(
        broker.bootstrap, f"off{os.getpid()}.", tmp_path / "r.log", STREAMKPI_COLLECTOR_TOKEN=""
    ).start()
    try:
        status, _ = post(only_webhook.url + "/events", orjson.dumps(started("off-1")), AUTH)
        assert status == 404
    finally:
        only_webhook.stop()


def test_refuses_to_start_with_nothing_to_serve() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("STREAMKPI_STRIPE_WEBHOOK_SECRET", "STREAMKPI_COLLECTOR_TOKEN")
    }
    cmd = [STREAMKPI, "stripe", "webhook", "--bootstrap", "127.0.0.1:9"]
    done = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
    assert done.returncode == 2
    assert b"STREAMKPI_STRIPE_WEBHOOK_SECRET" in done.stderr
