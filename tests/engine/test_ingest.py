"""Routing and sizing of JSONL lines by `streamkpi ingest` (SPEC §1)."""

from __future__ import annotations

import pytest

from engine.ingest import fit, route
from events.codec import MAX_MESSAGE_BYTES, decode


@pytest.mark.parametrize(
    ("line", "topic", "key"),
    [
        (
            b'{"type":"subscription.started","customer_id":"c1","event_id":"e"}',
            "subscriptions",
            b"c1",
        ),
        (b'{"type":"payment.failed","customer_id":"c2","event_id":"e"}', "payments", b"c2"),
        (b'{"type":"usage","user_id":"u1","customer_id":"c"}', "usage", b"u1"),
        (b'{"type":"visit","visitor_id":"v1"}', "usage", b"v1"),
        (b'[{"type":"visit","visitor_id":"v9"}]', "usage", b"v9"),
        (b'{"type":"fx.rate","event_id":"e7"}', "business", b"e7"),
        (b'{"type":"ticket.opened","customer_id":"c3","event_id":"e"}', "business", b"c3"),
        (b"not json", "business", None),
        (b'{"type":"nope","event_id":"e8"}', "business", b"e8"),
    ],
)
def test_route(line: bytes, topic: str, key: bytes | None) -> None:
    assert route(line) == (topic, key)


def test_oversized_line_is_cut_but_still_rejected_by_the_engine() -> None:
    line = b'{"pad":"' + b"x" * (3 * MAX_MESSAGE_BYTES) + b'"}'
    cut = fit(line)
    assert len(cut) == MAX_MESSAGE_BYTES + 1
    [rejection] = decode(cut, "business")
    assert rejection.reason == "invalid_json"  # type: ignore[union-attr]
    assert fit(b"{}") == b"{}"
