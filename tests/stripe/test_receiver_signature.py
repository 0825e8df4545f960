"""Stripe-Signature verification against headers the `stripe` package itself generates."""

from __future__ import annotations

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from engine.stripe.signature import TOLERANCE, sign, verify

SECRET = "whsec_test_secret_of_the_endpoint"
OTHER = "whsec_another_secret"
BODY = b'{"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {}}}'
T = 1_780_000_000


def header(body: bytes = BODY, secret: str = SECRET, timestamp: int = T) -> str:
    return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)


def test_stripe_generated_header_verifies() -> None:
    assert verify(BODY, header(), SECRET, now=T + 1) is None


def test_stripe_library_accepts_our_signature() -> None:
    ours = f"t={T},v1={sign(BODY, SECRET, T)}"
    assert stripe.WebhookSignature.verify_header(BODY, ours, SECRET, tolerance=None)


def test_non_ascii_body_signs_like_stripe() -> None:
    body = '{"name": "Zoë Søren 東京"}'.encode()
    assert verify(body, header(body), SECRET, now=T) is None


@pytest.mark.parametrize(
    ("body", "secret", "reason"),
    [
        (BODY + b" ", SECRET, "bad_signature"),  # body changed after signing
        (BODY, OTHER, "bad_signature"),  # signed with another secret
    ],
)
def test_bad_signature(body: bytes, secret: str, reason: str) -> None:
    signed = stripe.WebhookSignature.generate_signature_header(BODY.decode(), secret, T)
    assert verify(body, signed, SECRET, now=T) == reason


def test_stale_timestamp_refused_after_tolerance() -> None:
    signed = header(timestamp=T)
    assert verify(BODY, signed, SECRET, now=T + TOLERANCE) is None
    assert verify(BODY, signed, SECRET, now=T + TOLERANCE + 1) == "stale_timestamp"


def test_far_future_timestamp_refused() -> None:
    assert verify(BODY, header(timestamp=T + 301), SECRET, now=T) == "future_timestamp"


def test_any_of_several_v1_entries_may_match() -> None:
    good = header().split(",")[1]
    rolled = f"t={T},v1={'0' * 64},{good},v1=deadbeef"
    assert verify(BODY, rolled, SECRET, now=T) is None
    assert verify(BODY, f"t={T},v1={'0' * 64},v1=abc", SECRET, now=T) == "bad_signature"


def test_timestamp_is_part_of_the_signature() -> None:
    signature = header().split(",")[1]
    assert verify(BODY, f"t={T + 1},{signature}", SECRET, now=T) == "bad_signature"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("v1=abc", "malformed_signature"),  # no timestamp
        ("t=notanumber,v1=abc", "malformed_signature"),
        ("garbage", "malformed_signature"),
        ("t=" + "1" * 5000, "malformed_signature"),  # oversized header
    ],
)
def test_malformed_headers(value: str | None, reason: str) -> None:
    assert verify(BODY, value, SECRET, now=T) == reason


def test_wrong_scheme_is_not_trusted() -> None:
    v0 = header().replace("v1=", "v0=")
    assert verify(BODY, v0, SECRET, now=T) == "no_v1_signature"
    assert verify(BODY, header().replace("v1=", "v2="), SECRET, now=T) == "no_v1_signature"


def test_reason_never_contains_secret_or_signature() -> None:
    expected = sign(BODY, SECRET, T)
    for value in (header(secret=OTHER), header(timestamp=0), "t=1,v1=x"):
        reason = verify(BODY, value, SECRET, now=T) or ""
        assert SECRET not in reason and expected not in reason


@given(body=st.binary(max_size=300), timestamp=st.integers(0, 4_000_000_000))
def test_roundtrip_with_stripe_any_body(body: bytes, timestamp: int) -> None:
    text = body.decode("utf-8", "replace").encode()
    signed = stripe.WebhookSignature.generate_signature_header(text.decode(), SECRET, timestamp)
    assert verify(text, signed, SECRET, now=timestamp) is None
    assert verify(text + b"x", signed, SECRET, now=timestamp) == "bad_signature"
