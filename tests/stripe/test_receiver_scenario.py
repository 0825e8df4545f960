"""tests/stripe/scenario.py's Stripe account delivered as signed webhooks to a running receiver.

In order with redeliveries, the worker must show every sample the reference
computes from `stripe convert` of the same history; shuffled with
redeliveries (Stripe promises no order), the end state — MRR, plans, committed
MRR, pending cancellations, MRR by country, revenue — must be the same.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests import reference
from tests.integration.conftest import broker, settle, workers  # noqa: F401 - fixtures
from tests.stripe import scenario
from tests.stripe.receiver_kit import STREAMKPI, ReceiverProcess, wait_until

pytestmark = pytest.mark.integration
END_STATE = {
    key: value
    for key, value in scenario.EXPECTED.items()
    if not key.startswith("saas_mrr_movement")  # movements depend on the order events arrive in
}


def with_redeliveries(seed: int) -> list[dict[str, Any]]:
    events = scenario.events()
    return [*events, *random.Random(seed).sample(events, 8)]


def deliver_all(receiver: ReceiverProcess, events: list[dict[str, Any]]) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for stripe_event in events:
        status, answer = receiver.deliver(orjson.dumps(stripe_event))
        assert status == 200, (stripe_event["id"], answer, receiver.tail())
        outcomes[answer["outcome"]] = outcomes.get(answer["outcome"], 0) + 1
    return outcomes


def converted(tmp_path: Path, events: list[dict[str, Any]]) -> list[bytes]:
    import subprocess

    source, history = tmp_path / "stripe.jsonl", tmp_path / "history.jsonl"
    source.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    done = subprocess.run(
        [STREAMKPI, "stripe", "convert", str(source), "--out", str(history)],
        capture_output=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return history.read_bytes().splitlines()


def test_scenario_in_order_matches_convert(workers, broker, tmp_path: Path) -> None:  # noqa: F811
    events = sorted(with_redeliveries(seed=3), key=lambda e: (e["created"], e["id"]))
    expected = reference.compute(converted(tmp_path, events), prefix=workers.prefix)
    worker = workers()
    receiver = ReceiverProcess(broker.bootstrap, workers.prefix, tmp_path / "r.log").start()
    try:
        outcomes = deliver_all(receiver, events)
    finally:
        receiver.stop()
    assert outcomes.get("duplicate", 0) >= 8 and "rejected" not in outcomes, outcomes
    actual = settle(worker, expected)
    assert reference.diff(expected, actual) == []
    assert {k: actual.get(k) for k in scenario.EXPECTED} == scenario.EXPECTED


@pytest.mark.parametrize("seed", [1, 2])
def test_scenario_shuffled_ends_in_the_same_state(
    workers,  # noqa: F811
    broker,  # noqa: F811
    tmp_path: Path,
    seed: int,
) -> None:
    events = with_redeliveries(seed)
    random.Random(seed).shuffle(events)
    worker = workers()
    receiver = ReceiverProcess(broker.bootstrap, workers.prefix, tmp_path / "r.log").start()
    try:
        outcomes = deliver_all(receiver, events)
    finally:
        receiver.stop()
    assert "rejected" not in outcomes, outcomes
    wait_until(worker.scrape, END_STATE, f"end state after shuffle {seed} ({outcomes})")


def test_import_while_the_receiver_runs_counts_once(workers, broker, tmp_path: Path) -> None:  # noqa: F811
    """Half the account by webhook, then `stripe import` of all of it while the receiver
    runs, then every event redelivered by webhook: each counts once (SPEC §6)."""
    import subprocess

    events = sorted(scenario.events(), key=lambda e: (e["created"], e["id"]))
    expected = reference.compute(converted(tmp_path, events), prefix=workers.prefix)
    worker = workers()
    receiver = ReceiverProcess(broker.bootstrap, workers.prefix, tmp_path / "r.log").start()
    try:
        deliver_all(receiver, events[: len(events) // 2])
        source = tmp_path / "export.jsonl"
        source.write_bytes(scenario.export_pages(events))
        target = ["--bootstrap", broker.bootstrap, "--prefix", workers.prefix]
        done = subprocess.run(
            [STREAMKPI, "stripe", "import", str(source), *target], capture_output=True, timeout=600
        )
        assert done.returncode == 0, done.stderr
        again = deliver_all(receiver, events)
    finally:
        receiver.stop()
    assert "applied" not in again, again  # the receiver knew what the import had saved
    actual = settle(worker, expected)
    assert reference.diff(expected, actual) == []
