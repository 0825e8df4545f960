"""At-risk from the recency index equals a scan over every customer, in any order of changes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tables.recency import NEVER, Recency

CUSTOMERS = st.sampled_from([f"c{i}" for i in range(8)])
CHANGE = st.one_of(
    st.tuples(st.just("pay"), CUSTOMERS, st.booleans()),
    st.tuples(st.just("use"), CUSTOMERS, st.integers(0, 40)),
)


def scan(paying: dict[str, bool], last: dict[str, int], first: int | None) -> int:
    return sum(
        1
        for cid, pays in paying.items()
        if pays and (first is None or last.get(cid, NEVER) < first)
    )


@given(st.lists(CHANGE, max_size=80), st.one_of(st.none(), st.integers(-5, 45)))
def test_idle_count_equals_a_scan(
    changes: list[tuple[str, str, object]], first: int | None
) -> None:
    index, paying, last = Recency(), {}, {}
    for kind, cid, value in changes:
        if kind == "pay":
            index.set_paying(cid, bool(value))
            paying[cid] = bool(value)
        else:
            index.use(cid, int(value))  # type: ignore[call-overload]
            last[cid] = max(last.get(cid, NEVER), int(value))  # type: ignore[call-overload]
        assert index.idle(first) == scan(paying, last, first)
    assert index.last_day == last


def test_a_customer_who_pays_again_keeps_the_usage_seen_while_not_paying() -> None:
    index = Recency()
    index.set_paying("c", True)
    index.set_paying("c", False)
    index.use("c", 10)
    index.set_paying("c", True)
    assert (index.idle(11), index.idle(10)) == (1, 0)
    index.set_paying("c", True)  # idempotent
    assert index.idle(None) == 1
