"""Verify Stripe's `Stripe-Signature` header (SPEC §6 "Delivery"): pure, no clock.

Stripe signs every delivery with HMAC-SHA256 over `"<t>.<raw body>"` under the
endpoint's signing secret and sends `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`
(several `v1` entries while a rolled secret is still valid; `v0` entries are
test-mode leftovers and never trusted). A delivery is genuine when any `v1`
entry matches, compared in constant time; it is fresh when `t` is within
`tolerance` seconds of `now` — older means a replay, and a timestamp that far
in the future cannot come from Stripe either. The caller passes `now`, so this
module is a pure function that tests drive with fixed times.
"""

from __future__ import annotations

import hashlib
import hmac

TOLERANCE = 300.0
SCHEME = "v1"
_MAX_HEADER = 4096  # far above Stripe's (one t and a few 64-hex signatures)


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The hex v1 signature of `body` at `timestamp` (what Stripe computes)."""
    payload = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def _parse(header: str) -> tuple[int, list[str]] | None:
    """The timestamp and v1 signatures of a header, or None when it has no `t`."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME:
            signatures.append(value)
    return None if timestamp is None else (timestamp, signatures)


def verify(
    body: bytes, header: str | None, secret: str, now: float, tolerance: float = TOLERANCE
) -> str | None:
    """None when `header` proves `body` is a fresh delivery signed with `secret`,
    else the reason it does not: `missing_signature`, `malformed_signature`,
    `no_v1_signature`, `bad_signature`, `stale_timestamp` or `future_timestamp`.
    The reason never contains the secret or the expected signature."""
    if not header:
        return "missing_signature"
    parsed = _parse(header) if len(header) <= _MAX_HEADER else None
    if parsed is None:
        return "malformed_signature"
    timestamp, signatures = parsed
    if not signatures:
        return "no_v1_signature"
    expected = sign(body, secret, timestamp).encode()
    # compare every entry (no early exit): the time taken says nothing about which matched
    matches = [hmac.compare_digest(expected, s.encode("utf-8", "replace")) for s in signatures]
    if not any(matches):
        return "bad_signature"
    if timestamp < now - tolerance:
        return "stale_timestamp"
    if timestamp > now + tolerance:
        return "future_timestamp"
    return None
