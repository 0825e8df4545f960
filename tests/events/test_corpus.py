"""Issue 7: a corpus of malformed inputs, each with its exact rejection reason.

Every case is one Kafka message value on one topic suffix. `events.codec.decode`
must turn it into `Rejection`s with the reasons of docs/definitions.md (first
failing rule wins), or, for the state rules (`unknown_currency`, `unknown_ticket`,
`unknown_subscription`), into events that `tables.store.Store.apply` rejects.
Either way nothing may move a KPI: `tables.report.report` is compared before and
after, on a fresh store and on one that already has live KPIs. Counting the
rejections (as the router does) moves only `saas_events_rejected_total{reason}`.

The cases under "found while writing this corpus" were engine bugs (a crash on
a null or foreign `amount`, dead letters of deeply nested batch elements, an
unbounded FX rate); they are fixed and stay here as regressions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from events import types as t
from events.codec import MAX_MESSAGE_BYTES, dead_letter, decode
from events.schema import topic_of
from tables.report import report
from tables.store import Store
from tests.events.templates import STATE_REASONS, STATIC_REASONS
from tests.events.templates import TEMPLATES as SHARED
from tests.tables.helpers import ev, started

TS = "2026-03-01T12:00:00Z"
LATER = "2026-03-02T00:00:00Z"
SUBS, PAY, BIZ, USAGE = "subscriptions", "payments", "business", "usage"
DROP = object()  # a field value meaning "leave the field out"
REJECTED = "saas_events_rejected_total"

TEMPLATES: dict[str, dict[str, Any]] = {
    **SHARED,
    "subscription.changed": {"customer_id": "c1", "subscription_id": "s1", "amount": 5900},
}


def body(type_: str, /, event_id: str = "bad-1", **changes: Any) -> dict[str, Any]:
    """A valid event of `type_` with `changes` applied (`DROP` removes a field)."""
    out = {"event_id": event_id, "type": type_, "ts": TS, **TEMPLATES[type_], **changes}
    return {key: value for key, value in out.items() if value is not DROP}


def js(type_: str, /, **changes: Any) -> bytes:
    return orjson.dumps(body(type_, **changes))


def lit(type_: str, name: str, literal: bytes, /, **changes: Any) -> bytes:
    """`js` with `field` set to a raw JSON literal orjson cannot write (NaN, 2**64, ...)."""
    raw = js(type_, **{name: "@@literal@@"}, **changes)
    return raw.replace(b'"@@literal@@"', literal)


def batch(*items: Any) -> bytes:
    return orjson.dumps(list(items))


@dataclass(frozen=True)
class Case:
    id: str
    raw: bytes | None
    topic: str
    reasons: tuple[str, ...]  # one per decoded item, in order
    state: bool = False  # the items decode; Store.apply rejects them
    prelude: tuple[dict[str, Any], ...] = ()  # valid events applied first


def bad(id_: str, raw: bytes | None, topic: str, *reasons: str) -> Case:
    return Case(id_, raw, topic, reasons)


def field(id_: str, type_: str, reason: str, topic: str | None = None, /, **changes: Any) -> Case:
    """One event of `type_` with `changes`, on its own topic unless `topic` is given."""
    return Case(id_, js(type_, **changes), topic or topic_of(type_) or BIZ, (reason,))


def state(id_: str, type_: str, reason: str, /, *prelude: dict[str, Any], **changes: Any) -> Case:
    return Case(id_, js(type_, **changes), topic_of(type_) or BIZ, (reason,), True, prelude)


def regression(case: Case, why: str) -> Any:
    return pytest.param(case, id=case.id)


STARTED = js("subscription.started")
DEEP = 300  # deeper than orjson.dumps allows (254), shallower than orjson.loads (1024)

CORPUS: list[Any] = [
    # -- not UTF-8 / not JSON / too large / too deep: invalid_json ---------------
    bad("utf8-leading-ff", b"\xff" + js("visit"), USAGE, "invalid_json"),
    bad(
        "utf8-bad-continuation",
        js("usage", feature="exp\x00").replace(b"\\u0000", b"\xc3\x28"),
        USAGE,
        "invalid_json",
    ),
    bad(
        "utf8-overlong-slash",
        js("visit", visitor_id="v").replace(b'"v"', b'"\xc0\xaf"'),
        USAGE,
        "invalid_json",
    ),
    bad(
        "utf8-encoded-surrogate",
        js("lead.created", lead_id="l").replace(b'"l"', b'"\xed\xa0\x80"'),
        BIZ,
        "invalid_json",
    ),
    bad(
        "latin1-text",
        js("trial.started", plan="cafe").replace(b"cafe", b"caf\xe9"),
        SUBS,
        "invalid_json",
    ),
    bad("utf16-with-bom", js("visit").decode().encode("utf-16"), USAGE, "invalid_json"),
    bad("utf8-bom", b"\xef\xbb\xbf" + js("visit"), USAGE, "invalid_json"),
    bad(
        "lone-surrogate-escape",
        js("visit", visitor_id="@").replace(b'"@"', b'"\\ud800"'),
        USAGE,
        "invalid_json",
    ),
    bad(
        "control-char-in-string",
        js("visit", visitor_id="@").replace(b"@", b"\x01"),
        USAGE,
        "invalid_json",
    ),
    bad("empty-message", b"", SUBS, "invalid_json"),
    bad("null-message-value", None, PAY, "invalid_json"),
    bad("whitespace-only", b" \n\t ", BIZ, "invalid_json"),
    bad("nul-byte", b"\x00", USAGE, "invalid_json"),
    bad("truncated-half", STARTED[: len(STARTED) // 2], SUBS, "invalid_json"),
    bad("truncated-last-brace", STARTED[:-1], SUBS, "invalid_json"),
    bad("truncated-inside-string", STARTED[: STARTED.index(b"month") + 2], SUBS, "invalid_json"),
    bad("truncated-batch", b"[" + js("usage") + b",", USAGE, "invalid_json"),
    bad("two-objects", js("visit") + js("visit"), USAGE, "invalid_json"),
    bad("two-jsonl-lines", js("visit") + b"\n" + js("visit"), USAGE, "invalid_json"),
    bad("trailing-comma", js("visit")[:-1] + b",}", USAGE, "invalid_json"),
    bad("single-quotes", b"{'event_id': 'e', 'type': 'visit'}", USAGE, "invalid_json"),
    bad("js-comment", b"/* hi */" + js("visit"), USAGE, "invalid_json"),
    bad("unquoted-key", b"{event_id: 1}", SUBS, "invalid_json"),
    bad("amount-leading-zero", lit("payment.succeeded", "amount", b"049"), PAY, "invalid_json"),
    bad("amount-hex", lit("payment.succeeded", "amount", b"0x10"), PAY, "invalid_json"),
    bad("rate-NaN", lit("fx.rate", "rate", b"NaN"), BIZ, "invalid_json"),
    bad("rate-nan-lowercase", lit("fx.rate", "rate", b"nan"), BIZ, "invalid_json"),
    bad("rate-Infinity", lit("fx.rate", "rate", b"Infinity"), BIZ, "invalid_json"),
    bad(
        "amount-minus-Infinity",
        lit("payment.succeeded", "amount", b"-Infinity"),
        PAY,
        "invalid_json",
    ),
    bad("amount-1e400", lit("subscription.started", "amount", b"1e400"), SUBS, "invalid_json"),
    bad("score-minus-1e400", lit("nps.response", "score", b"-1e400"), BIZ, "invalid_json"),
    bad("message-10mb", b'{"event_id":"' + b"x" * (10 << 20) + b'"}', SUBS, "invalid_json"),
    bad(
        "batch-10mb",
        b"[" + b",".join([js("usage")] * ((10 << 20) // 100)) + b"]",
        USAGE,
        "invalid_json",
    ),
    bad(
        "one-byte-over-limit",
        js("visit") + b" " * (MAX_MESSAGE_BYTES + 1 - len(js("visit"))),
        USAGE,
        "invalid_json",
    ),
    bad("deep-arrays-2000", b"[" * 2000 + b"]" * 2000, USAGE, "invalid_json"),
    bad("deep-objects-2000", b'{"a":' * 2000 + b"1" + b"}" * 2000, SUBS, "invalid_json"),
    bad(
        "deep-unknown-field-2000",
        lit("visit", "extra", b"[" * 2000 + b"]" * 2000),
        USAGE,
        "invalid_json",
    ),
    # -- not_an_object ------------------------------------------------------------
    bad("json-number", b"42", SUBS, "not_an_object"),
    bad("json-float", b"4.9e3", PAY, "not_an_object"),
    bad("json-string", b'"subscription.started"', SUBS, "not_an_object"),
    bad("json-null", b"null", BIZ, "not_an_object"),
    bad("json-true", b"true", USAGE, "not_an_object"),
    bad("array-on-subscriptions", b"[" + STARTED + b"]", SUBS, "not_an_object"),
    bad("array-on-payments", batch(body("payment.succeeded")), PAY, "not_an_object"),
    bad("usage-array-on-business", batch(body("usage"), body("visit")), BIZ, "not_an_object"),
    bad("empty-array-on-business", b"[]", BIZ, "not_an_object"),
    bad("batch-of-non-objects", b'[1, "x", null, true, [], 1.5]', USAGE, *["not_an_object"] * 6),
    bad("batch-in-batch", batch([body("usage")]), USAGE, "not_an_object"),
    # -- empty_batch ----------------------------------------------------------------
    bad("empty-batch", b"[]", USAGE, "empty_batch"),
    bad("empty-batch-whitespace", b" [ \n ] ", USAGE, "empty_batch"),
    # -- wrong_topic ------------------------------------------------------------------
    bad(
        "batch-of-non-usage-events",
        batch(body("payment.succeeded"), body("spend"), body("subscription.started")),
        USAGE,
        *["wrong_topic"] * 3,
    ),
    bad(
        "batch-every-element-bad-differently",
        batch(
            body("visit", visitor_id=DROP),
            body("usage", feature=""),
            body("fx.rate"),
            7,
            body("visit", type="click"),
            body("usage", ts="yesterday"),
        ),
        USAGE,
        "missing_field",
        "invalid_value",
        "wrong_topic",
        "not_an_object",
        "unknown_type",
        "invalid_ts",
    ),
    field("payment-on-subscriptions", "payment.succeeded", "wrong_topic", SUBS),
    field("usage-on-business", "usage", "wrong_topic", BIZ),
    field("fx-rate-on-payments", "fx.rate", "wrong_topic", PAY),
    field("started-on-usage", "subscription.started", "wrong_topic", USAGE),
    field(
        "wrong-topic-before-missing-field", "payment.succeeded", "wrong_topic", SUBS, amount=DROP
    ),
    # -- common fields: missing_field / wrong_type / unknown_type / invalid_value -------
    field("event-id-missing", "visit", "missing_field", event_id=DROP),
    field("event-id-null", "spend", "missing_field", event_id=None),
    field("type-missing", "payment.failed", "missing_field", type=DROP),
    field("type-null", "usage", "missing_field", type=None),
    field("ts-missing", "subscription.started", "missing_field", ts=DROP),
    field("ts-null", "lead.created", "missing_field", ts=None),
    field(
        "missing-event-id-before-unknown-type",
        "visit",
        "missing_field",
        event_id=DROP,
        type="click",
    ),
    field("event-id-int", "visit", "wrong_type", event_id=42),
    field("event-id-list", "ticket.opened", "wrong_type", event_id=["e1"]),
    field("event-id-bool", "subscription.started", "wrong_type", event_id=True),
    field("type-int", "visit", "wrong_type", USAGE, type=7),
    field("type-object", "spend", "wrong_type", BIZ, type={"name": "spend"}),
    field("ts-epoch-int", "subscription.started", "wrong_type", ts=1772366400),
    field("ts-epoch-float", "payment.succeeded", "wrong_type", ts=1772366400.5),
    field("ts-bool", "visit", "wrong_type", ts=False),
    field("type-unknown", "subscription.started", "unknown_type", type="subscription.exploded"),
    field("type-empty", "visit", "unknown_type", USAGE, type=""),
    field("type-wrong-case", "subscription.started", "unknown_type", type="Subscription.Started"),
    field("type-trailing-space", "payment.succeeded", "unknown_type", type="payment.succeeded "),
    field("unknown-type-before-invalid-ts", "visit", "unknown_type", type="click", ts="soon"),
    field("event-id-empty", "usage", "invalid_value", event_id=""),
    field("event-id-129-chars", "subscription.started", "invalid_value", event_id="x" * 129),
    field("event-id-129-multibyte-chars", "visit", "invalid_value", event_id="é" * 129),
    # -- the type's own fields: missing_field (absent or null) -------------------------
    field("started-customer-id-missing", "subscription.started", "missing_field", customer_id=DROP),
    field("started-plan-null", "subscription.started", "missing_field", plan=None),
    field("started-amount-missing", "subscription.started", "missing_field", amount=DROP),
    field("started-currency-null", "subscription.started", "missing_field", currency=None),
    field("started-interval-missing", "subscription.started", "missing_field", interval=DROP),
    field("trial-plan-missing", "trial.started", "missing_field", plan=DROP),
    field(
        "changed-subscription-id-missing",
        "subscription.changed",
        "missing_field",
        subscription_id=DROP,
    ),
    field("canceled-customer-id-null", "subscription.canceled", "missing_field", customer_id=None),
    field("payment-amount-null", "payment.refunded", "missing_field", amount=None),
    field("spend-category-missing", "spend", "missing_field", category=DROP),
    field("cash-currency-missing", "cash.balance", "missing_field", currency=DROP),
    field("nps-score-null", "nps.response", "missing_field", score=None),
    field("fx-rate-null", "fx.rate", "missing_field", rate=None),
    field("fx-currency-missing", "fx.rate", "missing_field", currency=DROP),
    field("lead-id-missing", "lead.created", "missing_field", lead_id=DROP),
    field("ticket-customer-id-null", "ticket.opened", "missing_field", customer_id=None),
    field("usage-feature-missing", "usage", "missing_field", feature=DROP),
    field("visit-visitor-id-null", "visit", "missing_field", visitor_id=None),
    # -- wrong_type, for every field kind ----------------------------------------------
    field("id-customer-id-int", "subscription.started", "wrong_type", customer_id=123),
    field("id-plan-list", "trial.started", "wrong_type", plan=["pro"]),
    field("id-feature-object", "usage", "wrong_type", feature={"name": "export"}),
    field("id-lead-id-bool", "lead.created", "wrong_type", lead_id=True),
    field("id-visitor-id-float", "visit", "wrong_type", visitor_id=1.5),
    field("text-reason-int", "subscription.canceled", "wrong_type", reason=5),
    field("text-invoice-id-int", "payment.succeeded", "wrong_type", invoice_id=12),
    field("text-channel-list", "lead.created", "wrong_type", channel=["ads"]),
    field("amount-string", "subscription.started", "wrong_type", amount="4900"),
    field("amount-float", "payment.succeeded", "wrong_type", amount=49.0),
    field("amount-exponent-float", "spend", "wrong_type", amount=4.9e3),
    field("amount-bool", "cash.balance", "wrong_type", amount=True),
    field("amount-list", "subscription.changed", "wrong_type", amount=[4900]),
    field("amount-object", "payment.failed", "wrong_type", amount={"value": 4900}),
    bad(
        "amount-2pow64-is-float",
        lit("subscription.started", "amount", b"18446744073709551616"),
        SUBS,
        "wrong_type",
    ),
    bad(
        "amount-below-minus-2pow63-is-float",
        lit("payment.refunded", "amount", b"-9223372036854775809"),
        PAY,
        "wrong_type",
    ),
    field("quantity-bool", "subscription.started", "wrong_type", quantity=True),
    field("quantity-string", "subscription.changed", "wrong_type", quantity="2"),
    field("quantity-float", "subscription.started", "wrong_type", quantity=1.0),
    bad(
        "quantity-2pow64-is-float",
        lit("subscription.started", "quantity", b"36893488147419103232"),
        SUBS,
        "wrong_type",
    ),
    field("currency-int", "payment.succeeded", "wrong_type", currency=840),
    field("currency-list", "spend", "wrong_type", currency=["USD"]),
    field("interval-int", "subscription.started", "wrong_type", interval=1),
    field("category-list", "spend", "wrong_type", category=["sales"]),
    field("score-float", "nps.response", "wrong_type", score=9.5),
    field("score-string", "nps.response", "wrong_type", score="9"),
    field("score-bool", "nps.response", "wrong_type", score=True),
    field("rate-string", "fx.rate", "wrong_type", rate="1.08"),
    field("rate-bool", "fx.rate", "wrong_type", rate=True),
    field("rate-list", "fx.rate", "wrong_type", rate=[1.08]),
    field("wrong-type-before-invalid-ts", "payment.succeeded", "wrong_type", amount="1", ts="now"),
    # -- invalid_ts -----------------------------------------------------------------------
    field("ts-year-9999", "subscription.started", "invalid_ts", ts="9999-12-31T23:59:59Z"),
    field("ts-year-2100", "payment.succeeded", "invalid_ts", ts="2100-01-01T00:00:00Z"),
    field("ts-2100-in-utc-by-offset", "visit", "invalid_ts", ts="2099-12-31T23:59:59-00:01"),
    field("ts-before-1970", "subscription.started", "invalid_ts", ts="1969-12-31T23:59:59Z"),
    field("ts-before-1970-in-utc-by-offset", "spend", "invalid_ts", ts="1970-01-01T00:30:00+01:00"),
    field("ts-without-offset", "usage", "invalid_ts", ts="2026-03-01T12:00:00"),
    field("ts-space-separator", "subscription.started", "invalid_ts", ts="2026-03-01 12:00:00Z"),
    field("ts-date-only", "lead.created", "invalid_ts", ts="2026-03-01"),
    field("ts-no-seconds", "visit", "invalid_ts", ts="2026-03-01T12:00Z"),
    field("ts-offset-without-colon", "payment.failed", "invalid_ts", ts="2026-03-01T12:00:00+0100"),
    field("ts-february-30", "subscription.canceled", "invalid_ts", ts="2026-02-30T00:00:00Z"),
    field("ts-month-13", "ticket.opened", "invalid_ts", ts="2026-13-01T00:00:00Z"),
    field("ts-hour-25", "nps.response", "invalid_ts", ts="2026-03-01T25:00:00Z"),
    field("ts-empty", "fx.rate", "invalid_ts", ts=""),
    field("ts-trailing-text", "visit", "invalid_ts", ts="2026-03-01T12:00:00Z trailing"),
    field("ts-arabic-indic-digits", "visit", "invalid_ts", ts="٢٠٢٦-03-01T12:00:00Z"),
    field("invalid-ts-before-invalid-value", "usage", "invalid_ts", ts="today", event_id="x" * 200),
    # -- invalid_value --------------------------------------------------------------------
    field("amount-above-1e15", "subscription.started", "invalid_value", amount=10**15 + 1),
    field("amount-int64-max", "payment.succeeded", "invalid_value", amount=2**63 - 1),
    field("amount-uint64-max", "spend", "invalid_value", amount=2**64 - 1),
    field("cash-balance-1e16", "cash.balance", "invalid_value", amount=10**16),
    field("changed-amount-above-1e15", "subscription.changed", "invalid_value", amount=10**18),
    field("score-11", "nps.response", "invalid_value", score=11),
    field("score-minus-1", "nps.response", "invalid_value", score=-1),
    field("category-fun", "spend", "invalid_value", category="fun"),
    field("category-capitalised", "spend", "invalid_value", category="Sales"),
    field("interval-decade", "subscription.started", "invalid_value", interval="decade"),
    field("interval-empty", "subscription.changed", "invalid_value", interval=""),
    field("currency-lowercase", "subscription.started", "invalid_value", currency="usd"),
    field("currency-two-letters", "payment.succeeded", "invalid_value", currency="US"),
    field("currency-four-letters", "cash.balance", "invalid_value", currency="USDX"),
    field("currency-non-ascii", "spend", "invalid_value", currency="ÜSD"),
    field("currency-empty", "fx.rate", "invalid_value", currency=""),
    field("fx-rate-zero", "fx.rate", "invalid_value", rate=0),
    field("fx-rate-zero-float", "fx.rate", "invalid_value", rate=0.0),
    field("fx-rate-negative", "fx.rate", "invalid_value", rate=-1.08),
    field("fx-rate-negative-zero", "fx.rate", "invalid_value", rate=-0.0),
    field("customer-id-empty", "subscription.started", "invalid_value", customer_id=""),
    field("subscription-id-empty", "subscription.paused", "invalid_value", subscription_id=""),
    field("plan-empty", "trial.started", "invalid_value", plan=""),
    field("feature-empty", "usage", "invalid_value", feature=""),
    field("user-id-empty", "usage", "invalid_value", user_id=""),
    field("visitor-id-empty", "visit", "invalid_value", visitor_id=""),
    field("lead-id-empty", "lead.created", "invalid_value", lead_id=""),
    field(
        "invalid-value-before-negative-amount",
        "payment.succeeded",
        "invalid_value",
        currency="usd",
        amount=-1,
    ),
    field(
        "invalid-value-before-invalid-quantity",
        "subscription.started",
        "invalid_value",
        interval="decade",
        quantity=0,
    ),
    # -- negative_amount / invalid_quantity -----------------------------------------------
    field("amount-minus-1", "subscription.started", "negative_amount", amount=-1),
    field("refund-negative", "payment.refunded", "negative_amount", amount=-4900),
    field("spend-int64-min", "spend", "negative_amount", amount=-(2**63)),
    field("cash-negative", "cash.balance", "negative_amount", amount=-1),
    field("changed-amount-negative", "subscription.changed", "negative_amount", amount=-100),
    field(
        "negative-amount-before-invalid-quantity",
        "subscription.started",
        "negative_amount",
        amount=-1,
        quantity=0,
    ),
    field("quantity-zero", "subscription.started", "invalid_quantity", quantity=0),
    field("quantity-negative", "subscription.started", "invalid_quantity", quantity=-3),
    field("changed-quantity-zero", "subscription.changed", "invalid_quantity", quantity=0),
    # -- state rules: the event decodes, Store.apply rejects it --------------------------
    state("started-unknown-currency", "subscription.started", "unknown_currency", currency="EUR"),
    state("payment-unknown-currency", "payment.succeeded", "unknown_currency", currency="GBP"),
    state("refund-unknown-currency", "payment.refunded", "unknown_currency", currency="JPY"),
    state("spend-unknown-currency", "spend", "unknown_currency", currency="CHF"),
    state("cash-unknown-currency", "cash.balance", "unknown_currency", currency="SEK"),
    state(
        "changed-to-unknown-currency",
        "subscription.changed",
        "unknown_currency",
        body("subscription.started", event_id="pre-1"),
        currency="EUR",
    ),
    state(
        "fx-rate-only-after-the-event",
        "subscription.started",
        "unknown_currency",
        body("fx.rate", event_id="pre-1", ts=LATER),
        currency="EUR",
    ),
    state(
        "fx-rate-for-another-currency",
        "payment.succeeded",
        "unknown_currency",
        body("fx.rate", event_id="pre-1"),
        currency="GBP",
    ),
    state("changed-unknown-subscription", "subscription.changed", "unknown_subscription"),
    state("paused-unknown-subscription", "subscription.paused", "unknown_subscription"),
    state("resumed-unknown-subscription", "subscription.resumed", "unknown_subscription"),
    state("canceled-unknown-subscription", "subscription.canceled", "unknown_subscription"),
    state(
        "paused-subscription-of-another-customer",
        "subscription.paused",
        "unknown_subscription",
        body("subscription.started", event_id="pre-1", customer_id="c2"),
    ),
    state(
        "canceled-other-subscription-of-same-customer",
        "subscription.canceled",
        "unknown_subscription",
        body("subscription.started", event_id="pre-1", subscription_id="s2"),
    ),
    # -- SPEC v2 (issue 13): customer.updated ----------------------------------------------
    field("customer-updated-id-missing", "customer.updated", "missing_field", customer_id=DROP),
    field("customer-updated-id-null", "customer.updated", "missing_field", customer_id=None),
    field("customer-updated-id-int", "customer.updated", "wrong_type", customer_id=7),
    field("customer-updated-id-empty", "customer.updated", "invalid_value", customer_id=""),
    field("customer-updated-on-business", "customer.updated", "wrong_topic", BIZ),
    field("country-int", "customer.updated", "wrong_type", country=276),
    field("country-list", "customer.updated", "wrong_type", country=["DE"]),
    field("country-bool", "customer.updated", "wrong_type", country=True),
    field("country-lowercase", "customer.updated", "invalid_value", country="de"),
    field("country-mixed-case", "customer.updated", "invalid_value", country="De"),
    field("country-alpha-3", "customer.updated", "invalid_value", country="DEU"),
    field("country-one-letter", "customer.updated", "invalid_value", country="D"),
    field("country-empty", "customer.updated", "invalid_value", country=""),
    field("country-digit", "customer.updated", "invalid_value", country="D1"),
    field("country-non-ascii-letters", "customer.updated", "invalid_value", country="ÄÖ"),
    field("country-fullwidth-letters", "customer.updated", "invalid_value", country="ＤＥ"),
    field("country-leading-space", "customer.updated", "invalid_value", country=" DE"),
    field("country-trailing-newline", "customer.updated", "invalid_value", country="DE\n"),
    field("channel-int", "customer.updated", "wrong_type", channel=5),
    field("channel-object", "customer.updated", "wrong_type", channel={"name": "ads"}),
    field("channel-empty", "customer.updated", "invalid_value", channel=""),
    field("channel-65-chars", "customer.updated", "invalid_value", channel="x" * 65),
    field("channel-65-multibyte-chars", "customer.updated", "invalid_value", channel="é" * 65),
    field(
        "bad-country-before-long-channel",
        "customer.updated",
        "invalid_value",
        country="de",
        channel="x" * 65,
    ),
    field(
        "wrong-type-channel-before-bad-country",
        "customer.updated",
        "wrong_type",
        country="de",
        channel=1,
    ),
    # -- subscription.changed cancel_at_period_end ------------------------------------------
    field("cancel-flag-int-1", "subscription.changed", "wrong_type", cancel_at_period_end=1),
    field("cancel-flag-int-0", "subscription.changed", "wrong_type", cancel_at_period_end=0),
    field("cancel-flag-string", "subscription.changed", "wrong_type", cancel_at_period_end="true"),
    field(
        "cancel-flag-string-false",
        "subscription.changed",
        "wrong_type",
        cancel_at_period_end="false",
    ),
    field("cancel-flag-list", "subscription.changed", "wrong_type", cancel_at_period_end=[True]),
    field("cancel-flag-object", "subscription.changed", "wrong_type", cancel_at_period_end={}),
    field("cancel-flag-float", "subscription.changed", "wrong_type", cancel_at_period_end=1.0),
    state(
        "cancel-flag-unknown-subscription",
        "subscription.changed",
        "unknown_subscription",
        amount=DROP,
        cancel_at_period_end=True,
    ),
    state(
        "cancel-flag-null-is-absent",
        "subscription.changed",
        "unknown_subscription",
        amount=DROP,
        cancel_at_period_end=None,
    ),
    # -- tickets ----------------------------------------------------------------------------
    field("ticket-opened-id-int", "ticket.opened", "wrong_type", ticket_id=7),
    field("ticket-opened-id-empty", "ticket.opened", "invalid_value", ticket_id=""),
    field("ticket-replied-customer-missing", "ticket.replied", "missing_field", customer_id=DROP),
    field("ticket-replied-id-missing", "ticket.replied", "missing_field", ticket_id=DROP),
    field("ticket-replied-id-null", "ticket.replied", "missing_field", ticket_id=None),
    field("ticket-replied-id-int", "ticket.replied", "wrong_type", ticket_id=7),
    field("ticket-replied-id-empty", "ticket.replied", "invalid_value", ticket_id=""),
    field("ticket-resolved-id-missing", "ticket.resolved", "missing_field", ticket_id=DROP),
    field("ticket-resolved-customer-list", "ticket.resolved", "wrong_type", customer_id=["c1"]),
    field("ticket-resolved-customer-empty", "ticket.resolved", "invalid_value", customer_id=""),
    field("ticket-replied-on-subscriptions", "ticket.replied", "wrong_topic", SUBS),
    field("ticket-resolved-on-payments", "ticket.resolved", "wrong_topic", PAY),
    field(
        "ticket-resolved-bad-ts-before-empty-id",
        "ticket.resolved",
        "invalid_ts",
        ts="2026-03-01",
        ticket_id="",
    ),
    state("reply-never-opened", "ticket.replied", "unknown_ticket"),
    state("resolve-never-opened", "ticket.resolved", "unknown_ticket"),
    state(
        "reply-after-resolution",
        "ticket.replied",
        "unknown_ticket",
        body("ticket.opened", event_id="pre-1"),
        body("ticket.resolved", event_id="pre-2", ts=LATER),
    ),
    state(
        "resolve-twice",
        "ticket.resolved",
        "unknown_ticket",
        body("ticket.opened", event_id="pre-1"),
        body("ticket.resolved", event_id="pre-2"),
        ts=LATER,
    ),
    state(
        "reply-to-ticket-of-another-customer",
        "ticket.replied",
        "unknown_ticket",
        body("ticket.opened", event_id="pre-1", customer_id="c2"),
    ),
    state(
        "reply-to-other-ticket-of-same-customer",
        "ticket.replied",
        "unknown_ticket",
        body("ticket.opened", event_id="pre-1", ticket_id="t2"),
    ),
    state(
        "reply-to-ticket-opened-without-id",
        "ticket.replied",
        "unknown_ticket",
        body("ticket.opened", event_id="pre-1", ticket_id=DROP),
    ),
    # -- csat.response ----------------------------------------------------------------------
    field("csat-score-missing", "csat.response", "missing_field", score=DROP),
    field("csat-customer-null", "csat.response", "missing_field", customer_id=None),
    field("csat-score-0", "csat.response", "invalid_value", score=0),
    field("csat-score-6", "csat.response", "invalid_value", score=6),
    field("csat-score-10-nps-scale", "csat.response", "invalid_value", score=10),
    field("csat-score-minus-1", "csat.response", "invalid_value", score=-1),
    field("csat-score-float", "csat.response", "wrong_type", score=4.0),
    field("csat-score-string", "csat.response", "wrong_type", score="5"),
    field("csat-score-bool", "csat.response", "wrong_type", score=True),
    bad(
        "csat-score-2pow64-is-float",
        lit("csat.response", "score", b"18446744073709551616"),
        BIZ,
        "wrong_type",
    ),
    bad("csat-score-NaN", lit("csat.response", "score", b"NaN"), BIZ, "invalid_json"),
    field("csat-on-usage", "csat.response", "wrong_topic", USAGE),
    # -- signup and spend channel -----------------------------------------------------------
    field("signup-user-missing", "signup", "missing_field", user_id=DROP),
    field("signup-user-int", "signup", "wrong_type", user_id=1),
    field("signup-user-empty", "signup", "invalid_value", user_id=""),
    field("signup-channel-int", "signup", "wrong_type", channel=3),
    field("signup-on-subscriptions", "signup", "wrong_topic", SUBS),
    bad(
        "v2-events-in-usage-batch",
        batch(body("signup"), body("customer.updated", event_id="bad-2")),
        USAGE,
        "wrong_topic",
        "wrong_topic",
    ),
    field("spend-channel-int", "spend", "wrong_type", channel=12),
    field("spend-channel-list", "spend", "wrong_type", channel=["ads"]),
    state("spend-with-channel-unknown-currency", "spend", "unknown_currency", currency="CHF"),
    # -- found while writing this corpus (see module docstring) ----------------------------------------------
    regression(
        state(
            "changed-amount-null-is-absent",
            "subscription.changed",
            "unknown_subscription",
            amount=None,
        ),
        "validate._check_values: `obj.get('amount', 0) > MAX_AMOUNT` raises TypeError on null",
    ),
    regression(
        bad(
            "batch-element-nested-300-deep",
            b"[" + b"[" * DEEP + b"]" * DEEP + b"]",
            USAGE,
            "not_an_object",
        ),
        "codec._batch: orjson.dumps(item) of a rejected element > 254 levels deep raises",
    ),
    regression(
        bad(
            "batch-rejected-element-with-deep-unknown-field",
            b"[" + lit("visit", "extra", b"[" * DEEP + b"]" * DEEP, visitor_id=DROP) + b"]",
            USAGE,
            "missing_field",
        ),
        "codec._batch: orjson.dumps(item) of a rejected element > 254 levels deep raises",
    ),
    regression(
        field(
            "usage-bad-feature-and-text-amount", "usage", "invalid_value", feature="", amount="x"
        ),
        "validate._check_values compares an unknown `amount` field with 10**15 (TypeError)",
    ),
]


def _case(param: Any) -> Case:
    return param.values[0] if hasattr(param, "values") else param


def test_corpus_is_large_unique_and_uses_only_documented_reasons() -> None:
    cases = [_case(p) for p in CORPUS]
    ids = [c.id for c in cases]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)
    documented = STATIC_REASONS | STATE_REASONS
    used = {reason for c in cases for reason in c.reasons}
    assert used == documented


def _seeded() -> Store:
    """A store with live KPIs (MRR, movements, revenue, spend, cash, NPS, ...)."""
    store = Store()
    events = [
        started("seed-c1", "seed-s1", 9900, day=-20),
        started("seed-c2", "seed-s2", 120_000, day=-12, interval="year", plan="team"),
        started("seed-c3", "seed-s3", 4900, day=-9),
        ev(
            "subscription.changed",
            -5,
            customer_id="seed-c1",
            subscription_id="seed-s1",
            amount=19_900,
        ),
        ev(
            "subscription.canceled",
            -3,
            customer_id="seed-c3",
            subscription_id="seed-s3",
            reason="payment_failed",
        ),
        ev("trial.started", -2, customer_id="seed-c4", subscription_id="seed-s4", plan="pro"),
        ev("payment.succeeded", -4, customer_id="seed-c1", amount=9900, currency="USD"),
        ev("payment.refunded", -2, customer_id="seed-c1", amount=900, currency="USD"),
        ev("spend", -6, category="marketing", amount=50_000, currency="USD"),
        ev("spend", -6, category="cogs", amount=1_000, currency="USD"),
        ev("cash.balance", -1, amount=10_000_000, currency="USD"),
        ev("fx.rate", -30, currency="NOK", rate=0.095),
        ev("lead.created", -7, lead_id="seed-l1"),
        ev("ticket.opened", -1, customer_id="seed-c1"),
        ev("nps.response", -1, customer_id="seed-c2", score=10),
        # v2: attributes, a schedule, tickets, CSAT, signups, spend per channel
        ev("customer.updated", -21, customer_id="seed-c1", country="DE", channel="ads"),
        ev("customer.updated", -13, customer_id="seed-c2", country="US"),
        ev(
            "subscription.changed",
            -4,
            customer_id="seed-c2",
            subscription_id="seed-s2",
            cancel_at_period_end=True,
        ),
        ev("ticket.opened", -3, customer_id="seed-c1", ticket_id="seed-t1"),
        ev("ticket.replied", -2, customer_id="seed-c1", ticket_id="seed-t1"),
        ev("ticket.opened", -3, customer_id="seed-c2", ticket_id="seed-t2"),
        ev("ticket.resolved", -1, customer_id="seed-c2", ticket_id="seed-t2"),
        ev("csat.response", -1, customer_id="seed-c2", score=5),
        ev("signup", -2, user_id="seed-u1", channel="ads"),
        ev("spend", -6, category="sales", amount=20_000, currency="USD", channel="ads"),
    ]
    for event in events:
        assert store.apply(event, topic_of(event.type) or BIZ).status == "applied"
    return store


def _apply_prelude(store: Store, prelude: tuple[dict[str, Any], ...]) -> None:
    for obj in prelude:
        topic = topic_of(obj["type"]) or BIZ
        [event] = decode(orjson.dumps(obj), topic)
        assert isinstance(event, t.Event), event
        assert store.apply(event, topic).status == "applied"


def _without_rejected(samples: list[Any]) -> list[Any]:
    return [s for s in samples if s[0] != REJECTED]


def _rejected(samples: list[Any]) -> Counter[str]:
    return Counter({dict(s[1])["reason"]: int(s[2]) for s in samples if s[0] == REJECTED})


@pytest.mark.parametrize("store_kind", ["fresh", "seeded"])
@pytest.mark.parametrize(
    "case", [p if hasattr(p, "values") else pytest.param(p, id=p.id) for p in CORPUS]
)
def test_malformed_input_is_rejected_with_its_reason_and_moves_no_kpi(
    case: Case, store_kind: str
) -> None:
    store = Store() if store_kind == "fresh" else _seeded()
    _apply_prelude(store, case.prelude)
    before = report(store)

    items = decode(case.raw, case.topic)

    assert len(items) == len(case.reasons), items
    if case.state:
        assert all(isinstance(item, t.Event) for item in items), items
        outcomes = [store.apply(item, case.topic) for item in items]  # type: ignore[arg-type]
        assert [(o.status, o.reason) for o in outcomes] == [("rejected", r) for r in case.reasons]
        rejections = [t.Rejection(o.reason, "", case.raw or b"") for o in outcomes]
    else:
        assert all(isinstance(item, t.Rejection) for item in items), items
        rejections = items  # type: ignore[assignment]
        assert [r.reason for r in rejections] == list(case.reasons)
        for rejection in rejections:
            assert isinstance(rejection.detail, str)  # may echo an empty value
            assert len(rejection.raw) <= MAX_MESSAGE_BYTES
    # Nothing that decoded may move any sample, and a rejection registers nothing.
    assert report(store) == before

    # The dead letter carries the reason; counting moves only the rejected counter.
    for index, rejection in enumerate(rejections):
        letter = orjson.loads(dead_letter(rejection, "saas." + case.topic))
        assert letter["reason"] == rejection.reason and letter["topic"] == "saas." + case.topic
        assert store.count_rejection(f"saas.{case.topic}:0:7:{index}", rejection.reason)
        assert not store.count_rejection(f"saas.{case.topic}:0:7:{index}", rejection.reason)
    after = report(store)
    assert _without_rejected(after) == _without_rejected(before)
    assert _rejected(after) - _rejected(before) == Counter(case.reasons)


def test_a_rejected_event_id_may_later_arrive_valid() -> None:
    store = _seeded()
    [bad_event] = decode(js("payment.succeeded", currency="EUR", event_id="again"), PAY)
    assert isinstance(bad_event, t.Event)
    assert store.apply(bad_event, PAY).reason == "unknown_currency"
    [good] = decode(js("payment.succeeded", event_id="again"), PAY)
    assert isinstance(good, t.Event)
    assert store.apply(good, PAY).status == "applied"
    [sub] = decode(js("subscription.paused", event_id="again-2"), SUBS)
    assert isinstance(sub, t.Event)
    assert store.apply(sub, SUBS).reason == "unknown_subscription"
    _apply_prelude(store, (body("subscription.started", event_id="pre-1"),))
    assert store.apply(sub, SUBS).status == "applied"


# -- engine bugs that are not rejections: forward-compatible unknown fields ---------------


@pytest.mark.parametrize(
    ("type_", "extra"),
    [
        ("usage", {"amount": "x"}),
        ("lead.created", {"amount": [1]}),
        ("ticket.opened", {"amount": None}),
        ("visit", {"amount": 10**16}),
    ],
)
def test_unknown_amount_field_is_ignored(type_: str, extra: dict[str, Any]) -> None:
    [event] = decode(js(type_, **extra), topic_of(type_) or BIZ)
    assert type(event).__name__ != "Rejection"


def test_largest_accepted_rate_and_amount_still_export() -> None:
    """rate 1e300 is now invalid_value; the largest accepted pair must not overflow a float."""
    [rejected] = decode(js("fx.rate", rate=1e300), BIZ)
    assert getattr(rejected, "reason", None) == "invalid_value"
    store = Store()
    _apply_prelude(
        store,
        (
            body("fx.rate", event_id="pre-1", rate=1e9),
            body("subscription.started", event_id="pre-2", currency="EUR", amount=10**15),
        ),
    )
    assert dict(((n, lb), v) for n, lb, v in report(store))[("saas_mrr", ())] > 0


# -- v2 optional fields: absent, null and boundary values are accepted --------------------


@pytest.mark.parametrize(
    ("type_", "changes"),
    [
        ("customer.updated", {"country": DROP, "channel": DROP}),
        ("customer.updated", {"country": None, "channel": None}),
        ("customer.updated", {"country": "ZZ", "channel": "x" * 64}),
        ("customer.updated", {"channel": "é" * 64}),
        ("subscription.changed", {"amount": DROP, "cancel_at_period_end": False}),
        ("ticket.opened", {"ticket_id": DROP}),
        ("ticket.opened", {"ticket_id": None}),
        ("csat.response", {"score": 1}),
        ("csat.response", {"score": 5}),
        ("signup", {"channel": DROP}),
        ("signup", {"channel": ""}),  # no length rule on a signup's channel
        ("signup", {"channel": "y" * 500}),
        ("spend", {"channel": ""}),
        ("spend", {"channel": None}),
    ],
)
def test_v2_optional_fields_decode(type_: str, changes: dict[str, Any]) -> None:
    [event] = decode(js(type_, **changes), topic_of(type_) or BIZ)
    assert isinstance(event, t.Event), event


def test_seeded_store_has_live_v2_kpis() -> None:
    """The "moves no KPI" comparison above covers the v2 families too."""
    names = {name for name, _labels, _value in report(_seeded())}
    for name in (
        "saas_committed_mrr",
        "saas_pending_cancellations",
        "saas_segment_mrr",
        "saas_cohort_customers",
        "saas_ticket_first_response_hours",
        "saas_ticket_resolution_hours",
        "saas_csat",
        "saas_signups",
        "saas_segment_cac",
    ):
        assert name in names, name


def test_unknown_ticket_is_judged_after_the_duplicate_check() -> None:
    """A resolution seen twice is a duplicate; a new resolution of the closed ticket
    is unknown_ticket; neither moves a KPI."""
    store = _seeded()
    _apply_prelude(store, (body("ticket.opened", event_id="pre-1"),))
    [resolved] = decode(js("ticket.resolved", event_id="res-1", ts=LATER), BIZ)
    assert isinstance(resolved, t.Event)
    assert store.apply(resolved, BIZ).status == "applied"
    after = report(store)
    assert store.apply(resolved, BIZ).status == "duplicate"
    [again] = decode(js("ticket.resolved", event_id="res-2", ts=LATER), BIZ)
    assert isinstance(again, t.Event)
    outcome = store.apply(again, BIZ)
    assert (outcome.status, outcome.reason) == ("rejected", "unknown_ticket")
    assert report(store) == after
