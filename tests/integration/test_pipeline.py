"""End to end through the real embedded broker: `streamkpi run --input` vs the reference."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from engine.simulation import SimConfig, write_history
from tests import reference
from tests.integration.conftest import settle

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


@pytest.mark.integration
def test_run_input_equals_batch_recomputation(workers, tmp_path: Path) -> None:
    path, lines = history(tmp_path)
    expected = reference.compute(lines, prefix=workers.prefix)
    worker = workers("--input", str(path))
    actual = settle(worker, expected)
    assert reference.diff(expected, actual) == []
    assert expected['saas_events_rejected_total{reason="unknown_subscription"}'] >= 1


@pytest.mark.integration
def test_two_workers_each_export_the_global_numbers(workers, tmp_path: Path) -> None:
    path, lines = history(tmp_path, customers=30, days=35)
    expected = reference.compute(lines, prefix=workers.prefix)
    first = workers("--input", str(path))
    second = workers()
    for worker in (first, second):
        assert reference.diff(expected, settle(worker, expected)) == []


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
