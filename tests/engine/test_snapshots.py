"""Store snapshots without a broker: the pickle round trip and every reason to refuse one."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import replace
from pathlib import Path

import pytest

from engine import snapshots as s
from engine.ingest import route
from engine.simulation import SimConfig, write_history
from tables.activity import UsageView
from tables.report import report
from tables.store import Store
from tests.engine.test_label_bounds import run_through


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = tmp_path_factory.mktemp("snap") / "h.jsonl"
    write_history(SimConfig(customers=60, days=60, seed=3), path)
    folded = Store()
    run_through(
        [(route(line)[0], line) for line in path.read_bytes().splitlines()], folded, UsageView()
    )
    return folded


def head_for(body: bytes, **changes: object) -> s.Head:
    head = s.Head(
        s.FORMAT,
        s.code_version(),
        "USD",
        0.0,
        "A",
        {"saas.facts:0": 5, "saas.business:0": 2},
        [0],
        len(body),
        hashlib.sha256(body).hexdigest(),
    )
    return replace(head, **changes)  # type: ignore[arg-type]


BOUNDS = {"saas.facts:0": (0, 10), "saas.business:0": (0, 2)}


def test_a_store_round_trips_with_the_same_report(store: Store) -> None:
    body = s.dumps(store)
    back = s.unpickle(head_for(body), body)
    assert back is not None and back is not store
    assert report(back) == report(store)
    # and it keeps working: the restored closures book into the restored families
    lead = b'{"event_id":"after-1","type":"lead.created","ts":"2026-03-01T00:00:00Z","lead_id":"l"}'
    for folded in (store, back):
        run_through([("business", lead)], folded, UsageView())
    assert report(back) == report(store) != report(s.unpickle(head_for(body), body))


def test_a_store_pickles_as_it_is(store: Store) -> None:
    """Every object a Store holds is picklable (no closures), so a snapshot is plain
    pickle and restores the same report."""
    restored = pickle.loads(pickle.dumps(store))
    assert report(restored) == report(store)


def test_head_round_trips_and_garbage_is_no_head() -> None:
    head = head_for(b"x")
    assert s.Head.decode(head.encode()) == head
    for raw in (None, b"", b"{", b"[]", b'{"format": 1}', b"\x00\x01"):
        assert s.Head.decode(raw) is None


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"format": s.FORMAT + 1}, "format"),
        ({"code": "0" * 16}, "other code"),
        ({"currency": "EUR"}, "currency"),
        ({"positions": {"saas.facts:0": 5}}, "partitions differ"),
        ({"positions": {"saas.facts:0": 11, "saas.business:0": 2}}, "outside"),
        ({"positions": {"saas.facts:0": -1, "saas.business:0": 2}}, "outside"),
        ({"positions": {"saas.facts:0": "5", "saas.business:0": 2}}, "outside"),
        ({"chunks": []}, "empty"),
    ],
)
def test_every_mismatch_is_refused_with_its_reason(changes: dict[str, object], why: str) -> None:
    reason = s.problem(head_for(b"x", **changes), "USD", BOUNDS, s.code_version())
    assert reason is not None and why in reason


def test_a_usable_head_has_no_problem() -> None:
    assert s.problem(head_for(b"x"), "USD", BOUNDS, s.code_version()) is None


def test_corrupt_or_foreign_bodies_are_refused(store: Store) -> None:
    body = s.dumps(store)
    flipped = body[:-1] + bytes([body[-1] ^ 1])
    assert s.unpickle(head_for(body), flipped) is None  # SHA-256
    assert s.unpickle(head_for(body), body[:-1]) is None  # size
    other = pickle.dumps({"not": "a store"})
    assert s.unpickle(head_for(other), other) is None
    junk = b"\x80\x05junk"
    assert s.unpickle(head_for(junk), junk) is None


def test_chunks_cover_the_body_in_order() -> None:
    body = bytes(range(256)) * (s.CHUNK_BYTES // 100)
    parts = s.chunks_of(body)
    assert b"".join(parts) == body and all(len(p) <= s.CHUNK_BYTES for p in parts)
    assert len(parts) == -(-len(body) // s.CHUNK_BYTES)


def test_code_version_follows_the_sources(tmp_path: Path) -> None:
    assert s.code_version() == s.code_version() and len(s.code_version()) == 16
