"""POST /stripe/webhook through a real receiver, the embedded broker and a worker (SPEC §6)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.broker import EmbeddedBroker
from tests.integration.conftest import Worker, broker, workers  # noqa: F401 - fixtures
from tests.integration.faults import stopped
from tests.stripe.receiver_kit import (
    SECRET,
    T0,
    ReceiverProcess,
    event,
    invoice_paid,
    post,
    read_topic,
    signed,
    subscription,
    wait_until,
)

pytestmark = pytest.mark.integration
SUB_TOPICS = ("subscriptions", "payments", "business", "rejected", "stripe-state")


@pytest.fixture
def receivers(broker: EmbeddedBroker, tmp_path: Path) -> Iterator:  # noqa: F811
    """Start receivers of one fresh deployment (own topic prefix); stopped at the end."""
    started: list[ReceiverProcess] = []
    prefix = f"wh{time.monotonic_ns()}-{os.getpid()}."

    def start(bootstrap: str = broker.bootstrap, prefix: str = prefix) -> ReceiverProcess:
        log = tmp_path / f"receiver{len(started)}.log"
        started.append(ReceiverProcess(bootstrap, prefix, log).start())
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


def customer(customer_id: str, country: str) -> dict[str, Any]:
    return {
        "id": customer_id,
        "object": "customer",
        "address": {"country": country},
        "metadata": {},
    }


def outcome(answer: tuple[int, Any]) -> tuple[int, str]:
    status, body = answer
    return status, body.get("outcome") or body.get("error")


def test_signed_deliveries_reach_a_worker(workers, receivers) -> None:  # noqa: F811
    worker = workers()
    receiver = receivers(prefix=workers.prefix)
    basic, basic_up = subscription("sub_a", "cus_a"), subscription("sub_a", "cus_a", amount=5000)
    trial = subscription(
        "sub_b", "cus_b", status="trialing", amount=120000, interval="year", lookup_key="pro"
    )
    pro = subscription("sub_b", "cus_b", amount=120000, interval="year", lookup_key="pro")
    deliveries = [
        (event("evt_1", "customer.created", T0, customer("cus_a", "DE")), "applied"),
        (event("evt_2", "customer.subscription.created", T0 + 10, basic), "applied"),
        (event("evt_3", "customer.subscription.created", T0 + 20, trial), "applied"),
        (event("evt_4", "customer.subscription.updated", T0 + 300, basic_up), "applied"),
        (event("evt_5", "customer.subscription.updated", T0 + 200, basic), "stale"),  # late
        (event("evt_6", "customer.subscription.updated", T0 + 400, pro), "applied"),  # converts
        (event("evt_6", "customer.subscription.updated", T0 + 400, pro), "duplicate"),
        (event("evt_7", "invoice.paid", T0 + 500, invoice_paid("in_1", "cus_a", 5000)), "applied"),
        (
            event("evt_8", "product.created", T0 + 600, {"id": "prod_x", "object": "product"}),
            "ignored",
        ),
    ]
    for body, expected in deliveries:
        assert outcome(receiver.deliver(body)) == (200, expected), body
    prefix = workers.prefix
    wait_until(
        worker.scrape,
        {
            "saas_mrr": 150.0,  # 50 (basic after the upgrade) + 1200 / 12 (pro, yearly)
            "saas_paying_customers": 2.0,
            'saas_plan_mrr{plan="basic"}': 50.0,
            'saas_plan_mrr{plan="pro"}': 100.0,
            'saas_revenue{window="30d"}': 50.0,
            # customer.updated, sub_a started + changed, sub_b trial + conversion
            f'saas_events_processed_total{{topic="{prefix}subscriptions"}}': 5.0,
            f'saas_events_processed_total{{topic="{prefix}payments"}}': 1.0,
        },
        "worker fed by the webhook",
    )
    metrics = receiver.metrics()
    assert (
        metrics['saas_stripe_events_total{outcome="stale",type="customer.subscription.updated"}']
        == 1
    )
    assert (
        metrics[
            'saas_stripe_events_total{outcome="duplicate",type="customer.subscription.updated"}'
        ]
        == 1
    )
    assert metrics['saas_stripe_events_total{outcome="ignored",type="product.created"}'] == 1
    assert metrics['saas_stripe_webhook_requests_total{code="200"}'] == len(deliveries)
    derived = sorted(
        v["event_id"] for _k, v in read_topic(receiver.bootstrap, prefix + "subscriptions")
    )
    assert derived == [
        "stripe:evt_1:0",
        "stripe:evt_2:0",
        "stripe:evt_3:0",
        "stripe:evt_4:0",
        "stripe:evt_6:0",
    ]


def test_bad_deliveries_answer_400_and_change_nothing(receivers) -> None:
    receiver = receivers()
    body = event("evt_bad", "customer.subscription.created", T0, subscription("sub_x", "cus_x"))
    url = receiver.url + "/stripe/webhook"
    now = int(time.time())
    bad = {
        "bad_signature": post(url, body, signed(body, secret="whsec_not_the_endpoints")),
        "stale_timestamp": post(url, body, signed(body, timestamp=now - 301)),
        "future_timestamp": post(url, body, signed(body, timestamp=now + 3600)),
        "missing_signature": post(url, body, {"Content-Type": "application/json"}),
        "no_v1_signature": post(url, body, {"Stripe-Signature": f"t={now},v0=abc"}),
        "invalid_json": post(url, b"{oops", signed(b"{oops")),
        "not_a_stripe_event": post(url, b"[1, 2]", signed(b"[1, 2]")),
        "too_large": post(url, body + b" " * (1 << 20), signed(body + b" " * (1 << 20))),
    }
    assert {reason: answer for reason, answer in bad.items()} == {
        reason: (400, {"error": reason}) for reason in bad
    }
    for suffix in SUB_TOPICS:
        assert read_topic(receiver.bootstrap, receiver.prefix + suffix) == [], suffix
    metrics = receiver.metrics()
    assert metrics['saas_stripe_events_total{outcome="rejected",type="unknown"}'] == len(bad)
    assert metrics['saas_stripe_webhook_requests_total{code="400"}'] == len(bad)
    for text in (receiver.tail(), orjson.dumps(metrics).decode()):
        assert SECRET not in text
    # the memory did not see the refused deliveries: the same event applies now
    assert outcome(receiver.deliver(body)) == (200, "applied")


def test_memory_survives_a_receiver_restart(receivers) -> None:
    first = receivers()
    newer = event(
        "evt_n",
        "customer.subscription.updated",
        T0 + 100,
        subscription("sub_m", "cus_m", amount=3000),
    )
    older = event(
        "evt_o", "customer.subscription.created", T0, subscription("sub_m", "cus_m", amount=1000)
    )
    assert outcome(first.deliver(newer)) == (200, "applied")
    first.stop()
    second = receivers(prefix=first.prefix)
    assert outcome(second.deliver(older)) == (200, "stale")
    assert outcome(second.deliver(newer)) == (200, "duplicate")
    derived = read_topic(second.bootstrap, second.prefix + "subscriptions")
    assert [v["event_id"] for _k, v in derived] == ["stripe:evt_n:0"]
    assert derived[0][1]["amount"] == 3000


def test_concurrent_deliveries_of_one_subscription_are_serialised(receivers) -> None:
    receiver = receivers()
    amounts = [1000 + 100 * i for i in range(12)]
    bodies = [
        event(
            f"evt_c{i}",
            "customer.subscription.updated",
            T0 + i,
            subscription("sub_c", "cus_c", amount=a),
        )
        for i, a in enumerate(amounts)
    ]
    answers: list[tuple[int, str]] = []
    threads = [
        threading.Thread(target=lambda b=b: answers.append(outcome(receiver.deliver(b))))
        for b in bodies
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(status == 200 for status, _ in answers), answers
    derived = [v for _k, v in read_topic(receiver.bootstrap, receiver.prefix + "subscriptions")]
    # one event per applied delivery, the subscription started once, each change newer
    # than the last: no two deliveries diffed against the same remembered snapshot
    assert len(derived) == sum(1 for _s, o in answers if o == "applied"), (answers, derived)
    assert [v["type"] for v in derived].count("subscription.started") == 1, derived
    seen = [v["amount"] for v in derived]
    assert seen == sorted(set(seen)), seen
    assert seen[-1] == amounts[-1]  # the newest snapshot is never stale


def test_kafka_frozen_mid_delivery_then_the_retry_applies_once(tmp_path: Path) -> None:
    prefix, group = f"frz{os.getpid()}.", f"frz{os.getpid()}"
    with EmbeddedBroker() as own:  # its own broker: the session one is shared
        assert own.process is not None
        worker = Worker(own.bootstrap, prefix, group, log=tmp_path / "w.log")
        receiver = ReceiverProcess(own.bootstrap, prefix, tmp_path / "r.log").start()
        try:
            first = event(
                "evt_f1", "customer.subscription.created", T0, subscription("sub_f", "cus_f")
            )
            upgrade = event(
                "evt_f2",
                "customer.subscription.updated",
                T0 + 60,
                subscription("sub_f", "cus_f", amount=7000),
            )
            assert outcome(receiver.deliver(first)) == (200, "applied")
            wait_until(worker.scrape, {"saas_mrr": 20.0}, "first delivery applied")
            with stopped(own.process):
                status, _ = receiver.deliver(upgrade)
            assert status == 503, receiver.tail()
            assert receiver.process is not None and receiver.process.poll() is None
            retried = _deliver_until_200(receiver, upgrade)
            assert retried in ("applied", "duplicate")
            wanted = {
                "saas_mrr": 70.0,
                f'saas_events_processed_total{{topic="{prefix}subscriptions"}}': 2.0,
            }
            wait_until(worker.scrape, wanted, "the retried delivery applied")
            time.sleep(3)  # anything the frozen producer still held would have landed by now
            wait_until(worker.scrape, wanted, "applied exactly once", patience=10)
            assert outcome(receiver.deliver(upgrade)) == (200, "duplicate")
            own.stop()  # Kafka gone altogether: Stripe is told to retry, the receiver lives on
            # even a redelivery: the receiver cannot read the memory's latest state to know
            assert receiver.deliver(upgrade)[0] == 503
            assert receiver.process.poll() is None
        finally:
            receiver.stop()
            worker.stop()


def _deliver_until_200(receiver: ReceiverProcess, body: bytes, patience: float = 240.0) -> str:
    """Stripe's retries: deliver (re-signed each time) until 200; the outcome then."""
    deadline = time.monotonic() + patience
    answers = []
    while time.monotonic() < deadline:
        status, answer = outcome(receiver.deliver(body))
        if status == 200:
            return answer
        answers.append((status, answer))
        time.sleep(1)
    pytest.fail(f"no 200 within {patience}s: {answers[-5:]}\n{receiver.tail()}")


def test_webhook_answers_503_without_its_secret(broker: EmbeddedBroker, tmp_path: Path) -> None:  # noqa: F811
    collector_only = ReceiverProcess(
        broker.bootstrap,
        f"nosec{os.getpid()}.",
        tmp_path / "r.log",
        STREAMKPI_STRIPE_WEBHOOK_SECRET="",
    ).start()
    try:
        body = event("evt_s", "customer.subscription.created", T0, subscription("sub_s", "cus_s"))
        status, answer = collector_only.deliver(body)
        assert status == 503 and "STREAMKPI_STRIPE_WEBHOOK_SECRET" in answer["error"]
    finally:
        collector_only.stop()


def test_unreadable_stripe_object_is_dead_lettered_not_retried(receivers) -> None:
    """A genuine event the mapping cannot read: 200 (a retry would not help), dead letter, counted."""
    receiver = receivers()
    broken = {"id": "sub_z", "object": "subscription", "status": "active"}  # no customer
    body = event("evt_z", "customer.subscription.updated", T0, broken)
    status, answer = receiver.deliver(body)
    assert (status, answer["outcome"]) == (200, "rejected") and answer["reason"]
    dead = [v for _k, v in read_topic(receiver.bootstrap, receiver.prefix + "rejected")]
    assert [(v["topic"], v["reason"]) for v in dead] == [("stripe:webhook", answer["reason"])]
    assert orjson.loads(dead[0]["raw"])["id"] == "evt_z"
    assert read_topic(receiver.bootstrap, receiver.prefix + "subscriptions") == []
    metrics = receiver.metrics()
    assert (
        metrics['saas_stripe_events_total{outcome="rejected",type="customer.subscription.updated"}']
        == 1
    )
