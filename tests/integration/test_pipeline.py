"""End to end through the real embedded broker: `streamkpi run --input` vs the reference.

The v2 tests feed an adversarial history of tests/v2_history.py (every v1 and v2
event type, segments over the cap, tickets, schedules, duplicates, bad lines) and
compare every exported sample, v1 and v2, with `reference.compute`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests import reference
from tests.integration.conftest import Worker, settle
from tests.v2_history import V2Config
from tests.v2_history import history as v2_history

BAD_LINES = [
    b"this is not json",
    b'{"event_id":"bad1","type":"payment.succeeded","ts":"2026-01-20T00:00:00Z","customer_id":"c","amount":-5,"currency":"USD"}',
    b'{"event_id":"bad2","type":"subscription.canceled","ts":"2026-01-20T00:00:00Z","customer_id":"c-x","subscription_id":"never"}',
    b'{"event_id":"bad3","type":"spend","ts":"2026-01-20T00:00:00Z","category":"sales","amount":100,"currency":"XYZ"}',
    b'{"event_id":"bad4","type":"nope","ts":"2026-01-20T00:00:00Z"}',
    b"[]",
    b'[{"event_id":"bad5","type":"usage","ts":"not a time","user_id":"u","customer_id":"c","feature":"f"}]',
]


def history(tmp_path: Path, customers: int = 40, days: int = 45) -> tuple[Path, list[bytes]]:
    """A simulated history with bad lines and duplicated lines mixed in."""
    from engine.simulation import SimConfig, write_history  # the v2 tests do not need it

    raw = tmp_path / "raw.jsonl"
    write_history(SimConfig(customers=customers, days=days, seed=7, users_per_customer=3), raw)
    lines = raw.read_bytes().splitlines()
    mixed: list[bytes] = []
    for i, line in enumerate(lines):
        mixed.append(line)
        if i % 10 == 0:
            mixed.append(line)  # every 10th line twice
        if i % (len(lines) // len(BAD_LINES)) == 0 and i // (len(lines) // len(BAD_LINES)) < len(
            BAD_LINES
        ):
            mixed.append(BAD_LINES[i // (len(lines) // len(BAD_LINES))])
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(mixed) + b"\n")
    return path, mixed


def settle_exact(
    worker: Worker,
    expected: dict[str, float],
    patience: float = 120.0,
    approx: tuple[str, ...] | None = None,
) -> list[str]:
    """Settle the counters, then give global families (segments, cohorts) time to
    catch up: poll until no sample differs or `patience` runs out; the last diff.
    Samples whose name starts with one of `approx` may be off by 2 % (SPEC §3:
    distinct counts above 1,000; by default `reference.approximate(expected)`);
    every other one is compared exactly."""
    near = reference.approximate(expected) if approx is None else approx
    found = reference.diff(expected, settle(worker, expected), near=near)
    deadline = time.monotonic() + patience
    while found and time.monotonic() < deadline:
        time.sleep(1.0)
        found = reference.diff(expected, worker.scrape() or {}, near=near)
    return found


@pytest.mark.integration
def test_run_input_equals_batch_recomputation(workers, tmp_path: Path) -> None:
    path, lines = history(tmp_path)
    expected = reference.compute(lines, prefix=workers.prefix)
    worker = workers("--input", str(path))
    assert settle_exact(worker, expected) == []
    assert expected['saas_events_rejected_total{reason="unknown_subscription"}'] >= 1


@pytest.mark.integration
def test_two_workers_each_export_the_global_numbers(workers, tmp_path: Path) -> None:
    path, lines = history(tmp_path, customers=30, days=35)
    expected = reference.compute(lines, prefix=workers.prefix)
    first = workers("--input", str(path))
    second = workers()
    for worker in (first, second):
        assert settle_exact(worker, expected) == []


@pytest.mark.integration
def test_malformed_lines_land_in_rejected_with_reason(workers, broker, tmp_path: Path) -> None:
    path, lines = history(tmp_path, customers=10, days=10)
    expected = reference.compute(lines, prefix=workers.prefix)
    worker = workers("--input", str(path))
    settle(worker, expected)
    letters = asyncio.run(_read_all(broker.bootstrap, workers.prefix + "rejected"))
    reasons = sorted(orjson.loads(v)["reason"] for v in letters)
    wanted = sorted(
        reason
        for key, count in expected.items()
        if key.startswith("saas_events_rejected_total")
        for reason in [key.split('"')[1]] * int(count)
    )
    assert reasons == wanted
    assert any(b"this is not json" in v for v in letters)


async def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                return values
            values.extend(r.value for records in batch.values() for r in records)
    finally:
        await consumer.stop()


# ---------------------------------------------------------------- SPEC v2

# Every v2 family of SPEC §4; the history must give each of them at least one sample.
V2_FAMILIES = (
    "saas_committed_mrr",
    "saas_pending_cancellations",
    "saas_segment_mrr",
    "saas_segment_paying_customers",
    "saas_segment_new_customers",
    "saas_segment_customer_churn_rate",
    "saas_segment_nrr",
    "saas_segment_cac",
    "saas_cohort_customers",
    "saas_cohort_logo_retention",
    "saas_cohort_mrr_retention",
    "saas_tickets_opened",
    "saas_tickets_resolved",
    "saas_ticket_resolution_rate",
    "saas_ticket_resolution_hours",
    "saas_ticket_first_response_hours",
    "saas_csat",
    "saas_signups",
    "saas_visitor_signup_rate",
    "saas_burn_multiple",
)


def write_v2_history(tmp_path: Path, seed: int = 1, **config: object) -> tuple[Path, list[bytes]]:
    lines = v2_history(V2Config(seed=seed, **config))  # type: ignore[arg-type]
    path = tmp_path / f"v2-{seed}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines


def _families(expected: dict[str, float]) -> set[str]:
    return {key.split("{")[0] for key in expected}


@pytest.mark.integration
def test_v2_history_one_worker_equals_reference(workers, tmp_path: Path) -> None:
    path, lines = write_v2_history(tmp_path)
    expected = reference.compute(lines, prefix=workers.prefix)
    assert set(V2_FAMILIES) <= _families(expected)
    assert expected['saas_events_rejected_total{reason="unknown_ticket"}'] >= 1
    worker = workers("--input", str(path))
    assert settle_exact(worker, expected) == []


@pytest.mark.integration
def test_v2_history_two_workers_each_export_the_global_numbers(workers, tmp_path: Path) -> None:
    path, lines = write_v2_history(tmp_path, seed=2)
    expected = reference.compute(lines, prefix=workers.prefix)
    assert set(V2_FAMILIES) <= _families(expected)
    first = workers("--input", str(path))
    second = workers()
    for worker in (first, second):
        assert settle_exact(worker, expected) == []


@pytest.mark.integration
def test_v2_long_history_keeps_only_the_last_12_cohort_months(workers, tmp_path: Path) -> None:
    """14 months of customers: older cohorts drop out, ages reach 11."""
    start = datetime(2025, 1, 10, tzinfo=UTC)
    path, lines = write_v2_history(tmp_path, seed=21, days=420, customers=40, start=start)
    expected = reference.compute(lines, prefix=workers.prefix)
    cohorts = {k for k in expected if k.startswith("saas_cohort_customers")}
    assert min(k.split('"')[1] for k in cohorts) == "2025-04"  # month(T) = 2026-03
    assert 'saas_cohort_logo_retention{age="11",cohort="2025-04"}' in expected
    worker = workers("--input", str(path))
    assert settle_exact(worker, expected) == []


@pytest.mark.integration
def test_v2_history_above_1000_visitors_two_workers(workers, tmp_path: Path) -> None:
    """Unique visitors (and so the visitor -> signup rate) within 2 %, the rest exact."""
    path, lines = write_v2_history(
        tmp_path, seed=5, customers=30, visits_per_day=(70, 110), visitor_pool=50_000
    )
    expected = reference.compute(lines, prefix=workers.prefix)
    assert expected['saas_unique_visitors{window="30d"}'] > 1500
    assert reference.approximate(expected) == ("saas_unique_visitors", "saas_visitor_signup_rate")
    first = workers("--input", str(path))
    second = workers()
    for worker in (first, second):
        assert settle_exact(worker, expected) == []


@pytest.mark.integration
def test_v2_caps_are_configurable_two_workers(workers, tmp_path: Path) -> None:
    """--max-segments 4 --max-plans 2 --max-features 3: every capped family as the reference."""
    path, lines = write_v2_history(tmp_path, seed=3)
    caps = {"max_segments": 4, "max_plans": 2, "max_features": 3}
    expected = reference.compute(lines, prefix=workers.prefix, **caps)
    for name in ("saas_segment_mrr", "saas_plan_mrr", "saas_feature_active_users"):
        assert any(k.startswith(name) and '"other"' in k for k in expected), name
    flags = ("--max-segments", "4", "--max-plans", "2", "--max-features", "3")
    first = workers("--input", str(path), *flags)
    second = workers(*flags)
    for worker in (first, second):
        assert settle_exact(worker, expected) == []
