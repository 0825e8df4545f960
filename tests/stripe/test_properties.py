"""Order and duplicates (SPEC §6 "Delivery"): Stripe delivers at least once and in no order.

The state a delivery leads to is derived by folding the produced SPEC events
through the reference engine (tests/reference.py): per subscription its MRR,
whether it is live (started, not paused or canceled), whether its
cancellation is scheduled, and its plan while it pays.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.stripe.mapping import OUTCOMES, translate
from engine.stripe.memory import Memory
from tests import reference
from tests.stripe import objects as so
from tests.stripe.helpers import deliver, derived

SUB = "customer.subscription.updated"
STATUSES = [
    "trialing",
    "active",
    "past_due",
    "paused",
    "canceled",
    "unpaid",
    "incomplete",
    "incomplete_expired",
]
PRICES = st.builds(
    so.price,
    st.integers(0, 100_000),
    interval=st.sampled_from(["month", "year", "week", "day"]),
    interval_count=st.sampled_from([1, 1, 3, 6]),
    lookup_key=st.sampled_from([None, "basic", "pro"]),
)
COUPONS = st.one_of(
    st.none(),
    st.builds(so.coupon, percent_off=st.sampled_from([10, 25.5, 50, 100])),
    st.builds(so.coupon, amount_off=st.integers(1, 5000)),
    st.builds(so.coupon, percent_off=st.just(30), duration=st.sampled_from(["once", "repeating"])),
)


@st.composite
def snapshot(draw: Any, sub_id: str, customer: str) -> dict[str, Any]:
    items = [so.item(draw(PRICES), quantity=draw(st.integers(0, 5)))]
    if draw(st.booleans()):
        items.append(so.item(so.price(draw(st.integers(0, 99)), usage_type="metered"), None))
    coupon = draw(COUPONS)
    return so.subscription(
        draw(st.sampled_from(STATUSES)),
        items,
        sub_id=sub_id,
        customer=customer,
        cancel_at_period_end=draw(st.booleans()),
        cancellation_reason=draw(st.sampled_from([None, "payment_failed"])),
        discount=so.discount(coupon) if coupon else None,
    )


@st.composite
def history(draw: Any) -> list[dict[str, Any]]:
    """Snapshots of 1-3 subscriptions of 1-2 customers as Stripe events, in (created, id) order.

    `created` values collide on purpose: Stripe's clock has one-second resolution.
    """
    snapshots = []
    for n in range(draw(st.integers(1, 3))):
        customer = f"cus_{draw(st.integers(1, 2))}"
        for _ in range(draw(st.integers(1, 6))):
            created = so.T0 + draw(st.integers(0, 20)) * 3600
            snapshots.append((created, draw(snapshot(f"sub_{n}", customer))))
    snapshots.sort(key=lambda pair: pair[0])
    return [
        so.event(SUB, snap, created, f"evt_{i:04d}") for i, (created, snap) in enumerate(snapshots)
    ]


@st.composite
def shuffled_with_duplicates(draw: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    delivery = list(draw(st.permutations(events)))
    for _ in range(draw(st.integers(0, len(events)))):
        again = draw(st.sampled_from(events))
        delivery.insert(draw(st.integers(0, len(delivery))), again)
    return delivery


def fold(events: list[dict[str, Any]]) -> tuple[dict[str, Any], reference.Book]:
    """Each subscription's (MRR, live, scheduled, plan) after the SPEC events, via the reference."""
    book = reference.Book("USD")
    for event in events:
        suffix = reference.route(event)
        book.handle(event, suffix, "saas." + suffix)
    state: dict[str, Any] = {}
    for subs in book.subs.values():
        for sub_id, sub in subs.items():
            live = sub.status == "active" and not sub.paused
            mrr = sub.mrr()
            paying = mrr > Fraction(0)
            state[sub_id] = (mrr, live, sub.scheduled and paying, sub.plan if paying else None)
    return {k: v for k, v in state.items() if v != (0, False, False, None)}, book


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_order_with_duplicates_ends_in_the_ordered_state(data: st.DataObject) -> None:
    ordered = data.draw(history())
    delivery = data.draw(shuffled_with_duplicates(ordered))
    expected, ordered_book = fold(derived(deliver(ordered)))
    actual, book = fold(derived(deliver(delivery)))
    assert actual == expected
    assert not ordered_book.rejected and not book.rejected  # every derived event is valid


@settings(max_examples=150, deadline=None)
@given(history())
def test_converting_twice_counts_every_event_once(ordered: list[dict[str, Any]]) -> None:
    first, second = derived(deliver(ordered)), derived(deliver(ordered))
    assert first == second  # same ids, same bodies
    once, _ = fold(first)
    twice, book = fold(first + second)
    assert twice == once
    assert sum(book.duplicates.values()) == len(second)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_an_import_replayed_over_webhook_deliveries_adds_nothing(data: st.DataObject) -> None:
    ordered = data.draw(history())
    webhook = data.draw(shuffled_with_duplicates(ordered))
    memory = Memory()
    delivered = derived(deliver(webhook, memory))
    replay = deliver(ordered, memory)  # `stripe import` of the same history, same memory
    assert derived(replay) == []
    assert {r.outcome for r in replay} <= {"duplicate", "stale", "ignored"}
    assert fold(delivered)[0] == fold(derived(deliver(ordered)))[0]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = ["id", "type", "created", "object", "data"]


@st.composite
def damaged_event(draw: Any) -> Any:
    """A real Stripe event with one of its fields (or its object's) replaced by any JSON."""
    kind = draw(st.sampled_from([SUB, "customer.updated", "invoice.paid", "charge.refunded"]))
    obj = {
        SUB: so.subscription(),
        "customer.updated": so.customer(country="DE"),
        "invoice.paid": so.invoice(amount_paid=100),
        "charge.refunded": so.charge(amount_refunded=5),
    }[kind]
    event = so.event(kind, obj, so.T0)
    target = draw(st.sampled_from([event, obj]))
    target[draw(st.sampled_from([*FIELDS, *obj]))] = draw(JSON)
    return event


@settings(max_examples=400, deadline=None)
@given(st.one_of(JSON, damaged_event()))
def test_any_input_gives_a_translation_never_an_exception(raw: Any) -> None:
    memory = Memory({"sub:sub_1Pgc6rB7WZ01zgkWNy0Cn5nw": {"phase": "running", "at": [0, "e"]}})
    before = dict(memory.entries())
    result = translate(raw, memory)
    assert result.outcome in OUTCOMES
    assert dict(memory.entries()) == before
    for event in result.events:
        suffix = reference.route(event)
        assert reference.validate(event, suffix) is None, event


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_account_scenario_in_any_order_ends_in_the_hand_computed_state(
    data: st.DataObject,
) -> None:
    """Webhook-style: the whole account (customers, invoices, refunds too) shuffled, duplicated."""
    from tests.stripe import scenario

    delivery = data.draw(shuffled_with_duplicates(scenario.events()))
    lines = [orjson.dumps(e) for e in derived(deliver(delivery))]
    samples = reference.compute(lines)
    assert {k: samples.get(k) for k in scenario.END_STATE} == scenario.END_STATE
    assert not any(k.startswith("saas_events_rejected_total") for k in samples)


CUSTOMER_SNAPSHOTS = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.sampled_from([None, "DE", "FR", "US"]),
        st.sampled_from([None, "ads", "seo"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_customer_attributes_in_any_order_end_as_in_order(data: st.DataObject) -> None:
    snaps = data.draw(CUSTOMER_SNAPSHOTS)
    ordered = sorted(
        (
            so.event(
                "customer.updated",
                so.customer("cus_1", country=c, channel=ch),
                so.T0 + t,
                f"evt_{i}",
            )
            for i, (t, c, ch) in enumerate(snaps)
        ),
        key=lambda e: (e["created"], e["id"]),
    )
    delivery = data.draw(shuffled_with_duplicates(ordered))
    _, expected = fold(derived(deliver(ordered)))
    _, actual = fold(derived(deliver(delivery)))
    assert actual.attributes == expected.attributes
