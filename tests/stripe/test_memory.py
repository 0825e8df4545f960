"""The connector's memory only moves forward, whatever order two writers' updates arrive in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.stripe.memory import Memory


def test_an_older_subscription_entry_does_not_replace_a_newer_one() -> None:
    memory = Memory()
    newer = {"phase": "none", "at": [200, "evt_b"]}
    older = {"phase": "running", "at": [100, "evt_a"], "terms": {}, "cap": False}
    memory.commit({"sub:s": newer})
    memory.commit({"sub:s": older})
    assert memory.get("sub:s") == newer
    same_second = {"phase": "paused", "at": [200, "evt_c"]}
    memory.commit({"sub:s": same_second})
    assert memory.get("sub:s") == same_second


def test_refunded_amount_never_goes_down_and_tombstones_delete() -> None:
    memory = Memory({"ch:c": 1500, "evt:e": 10})
    memory.commit({"ch:c": 500})
    assert memory.get("ch:c") == 1500
    memory.commit({"ch:c": None, "evt:e": None})
    assert len(memory) == 0 and memory.get("ch:c") is None


@given(st.permutations([(t, f"evt_{t % 3}") for t in range(8)]))
def test_any_log_order_ends_at_the_newest_entry(order: list[tuple[int, str]]) -> None:
    memory = Memory()
    for created, event_id in order:
        memory.commit({"cus:c": {"at": [created, event_id]}})
    assert memory.get("cus:c") == {"at": [7, "evt_1"]}
