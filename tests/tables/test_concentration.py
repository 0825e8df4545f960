"""Concentration invariants: shares in [0, 1], HHI in [1/n, 1], top-10 >= top-20 % when n <= 50."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tables.concentration import Concentration


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 10**6)), max_size=120))
def test_shares_and_hhi_stay_in_range(moves: list[tuple[int, int]]) -> None:
    conc, mrr = Concentration(), {}
    for customer, new in moves:
        conc.update(mrr.get(customer, 0), new)
        mrr[customer] = new
    paying = sorted((v for v in mrr.values() if v > 0), reverse=True)
    n = len(paying)
    assert len(conc) == n
    if n == 0:
        assert conc.hhi() is None and conc.top_share(10) is None
        return
    k = conc.top_percent_count(20)
    assert k == -(-n // 5)
    top20, top10 = conc.top_share(k), conc.top_share(10)
    assert top20 is not None and top10 is not None
    assert abs(top20 - sum(paying[:k]) / sum(paying)) < 1e-12
    assert 0.0 < top20 <= 1.0 + 1e-12 and 0.0 < top10 <= 1.0 + 1e-12
    if n <= 50:
        assert top10 >= top20 - 1e-12
    hhi = conc.hhi()
    assert hhi is not None and 1.0 / n - 1e-12 <= hhi <= 1.0 + 1e-12


@given(
    st.lists(st.tuples(st.integers(0, 30), st.sampled_from([0, 2900, 9900, 29900])), max_size=150)
)
def test_shares_with_many_customers_on_the_same_mrr_equal_a_sort(
    moves: list[tuple[int, int]],
) -> None:
    """Plan prices repeat: customers sharing a value are counted, not listed."""
    conc, mrr = Concentration(), {}
    for customer, new in moves:
        conc.update(mrr.get(customer, 0), new)
        mrr[customer] = new
    paying = sorted((v for v in mrr.values() if v > 0), reverse=True)
    assert len(conc) == len(paying)
    for count in (1, 3, 10, conc.top_percent_count(20), len(paying) + 5):
        share = conc.top_share(count)
        if not paying:
            assert share is None
        else:
            assert share is not None and abs(share - sum(paying[:count]) / sum(paying)) < 1e-12
