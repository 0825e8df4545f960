"""Helpers for the fault-injection tests: progress polling, kill -9, pausing a process."""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests import reference
from tests.integration.conftest import Worker, settle

PROCESSED = "saas_events_processed_total"


def processed(samples: dict[str, float] | None) -> float:
    """Events applied so far, over all topics (the engine's global count)."""
    return sum(v for k, v in (samples or {}).items() if k.startswith(PROCESSED))


def wait_processed(worker: Worker, at_least: float, patience: float, poll: float = 0.05) -> float:
    """Poll /metrics until the processed count reaches `at_least`; return the count seen.

    Fails (with the worker's log) if the worker exits or the count is not reached in time.
    """
    deadline = time.monotonic() + patience
    seen = 0.0
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited with {worker.process.returncode}:\n{worker.tail()}")
        seen = processed(worker.scrape())
        if seen >= at_least:
            return seen
        time.sleep(poll)
    pytest.fail(f"processed count stayed at {seen} < {at_least} for {patience}s:\n{worker.tail()}")


def kill9(worker: Worker) -> None:
    """SIGKILL the worker process: no shutdown, no commit, no flush."""
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(10)


@contextlib.contextmanager
def stopped(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """SIGSTOP `process` for the body of the block; SIGCONT it whatever happens."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def settle_all(worker: Worker, expected: dict[str, float], patience: float) -> dict[str, float]:
    """`settle`, but a failure also lists every metric that differs from the reference."""
    try:
        return settle(worker, expected, patience=patience)
    except pytest.fail.Exception as exc:
        problems = reference.diff(expected, worker.scrape() or {})
        pytest.fail(f"{exc.msg}\nfull diff vs reference:\n" + "\n".join(problems), pytrace=False)


# SPEC §3: distinct counts may be approximate with <= 2 % relative error above 1,000
# (exact below); a ratio of two such counts then within (1.02 / 0.98) - 1.
DISTINCT_COUNTS = ("saas_active_users", "saas_feature_active_users", "saas_unique_visitors")
DISTINCT_RATIOS = {
    "saas_stickiness": 'saas_active_users{window="30d"}',
    "saas_feature_adoption": 'saas_active_users{window="30d"}',
    "saas_visitor_signup_rate": 'saas_unique_visitors{window="30d"}',
}
APPROX_FROM = 1_000
COUNT_ERROR = 0.02
RATIO_ERROR = 1.02 / 0.98 - 1


def _tolerance(key: str, expected: dict[str, float]) -> float:
    name = key.split("{", 1)[0]
    if name in DISTINCT_COUNTS and expected[key] >= APPROX_FROM:
        return COUNT_ERROR
    if name in DISTINCT_RATIOS and expected.get(DISTINCT_RATIOS[name], 0.0) >= APPROX_FROM:
        return RATIO_ERROR
    return 0.0


def spec_diff(expected: dict[str, float], actual: dict[str, float]) -> list[str]:
    """`reference.diff`, except that a distinct count above 1,000 (and a ratio of
    one) may be off by what SPEC §3 allows; every other metric must be exact."""
    problems = []
    for problem in reference.diff(expected, actual):
        if problem.startswith("different "):
            key = problem[len("different ") : problem.rindex(": expected ")]
            allowed = _tolerance(key, expected)
            if allowed and abs(actual[key] - expected[key]) <= allowed * abs(expected[key]):
                continue
        problems.append(problem)
    return problems


# -- hand-built record batches (issue 12: undecodable batches) ------------------


def record_batch(
    values: list[bytes], codec: int = 0, keys: list[bytes | None] | None = None
) -> bytearray:
    """A v2 record batch of `values` as a producer would send it, built by aiokafka."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for offset, value in enumerate(values):
        key = keys[offset] if keys else None
        builder.append(offset, timestamp=1_767_225_600_000, key=key, value=value, headers=[])
    return bytearray(builder.build())


ATTRIBUTES = 21  # byte offset of the int16 attributes in a v2 batch (codec = low 3 bits)
CRC = 17  # byte offset of the uint32 CRC-32C (covers everything from ATTRIBUTES on)


def recompute_crc(batch: bytearray) -> bytearray:
    from aiokafka.record.util import calc_crc32c

    struct.pack_into(">I", batch, CRC, calc_crc32c(bytes(batch[ATTRIBUTES:])))
    return batch


def with_codec(batch: bytearray, codec: int) -> bytearray:
    """The same (uncompressed) records labelled with codec id `codec`, CRC valid:
    gzip/snappy/lz4/zstd then fail to decompress, 5-7 are unknown codecs."""
    changed = bytearray(batch)
    changed[ATTRIBUTES + 1] = (changed[ATTRIBUTES + 1] & ~0x07) | codec
    return recompute_crc(changed)


def with_bad_crc(batch: bytearray) -> bytearray:
    """One payload byte flipped, CRC left as it was."""
    changed = bytearray(batch)
    changed[-2] ^= 0xFF
    return changed


async def produce_raw(bootstrap: str, topic: str, partition: int, batch: bytes) -> tuple[int, int]:
    """Send `batch` as it is in one ProduceRequest (no client-side checks): the
    broker's error code (0 = stored) and the base offset it was stored at."""
    from aiokafka import TopicPartition
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.produce import ProduceRequest

    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        await client.force_metadata_update()
        node = client.cluster.leader_for_partition(TopicPartition(topic, partition))
        request = ProduceRequest(None, -1, 10_000, [(topic, [(partition, bytes(batch))])])
        response = await client.send(node, request)
        _, error, offset, *_ = response.topics[0][1][0]
        return int(error), int(offset)
    finally:
        await client.close()


async def fetch_batches(bootstrap: str, topic: str, partition: int) -> list[tuple[int, int, int]]:
    """(base offset, codec id, record count) of every batch the broker stores in a
    partition, from raw Fetch responses: what a consumer really receives."""
    from aiokafka import TopicPartition
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.fetch import FetchRequest
    from aiokafka.record.memory_records import MemoryRecords

    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    batches: list[tuple[int, int, int]] = []
    try:
        await client.force_metadata_update()
        node = client.cluster.leader_for_partition(TopicPartition(topic, partition))
        offset = 0
        while True:
            request = FetchRequest(100, 1, 8 << 20, 0, [(topic, [(partition, offset, 8 << 20)])])
            response = await client.send(node, request)
            records = MemoryRecords(response.topics[0][1][0][-1])
            if not records.has_next():
                return batches
            while records.has_next():
                batch = records.next_batch()
                batches.append((batch.base_offset, batch.compression_type, len(list(batch))))
                offset = batch.next_offset
    finally:
        await client.close()
