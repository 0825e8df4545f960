"""Usage activity: DAU/WAU/MAU windows, features, snapshots and partition splits (SPEC §3)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.usage import UsageOwner
from events import types as t
from tables.activity import PartitionActivity, UsageView
from tables.store import Store
from tests.tables.helpers import ev, started

T = 40  # the "as of" day, relative to helpers.BASE
TDAY = ev("visit", T, visitor_id="x").day  # the same day as an epoch day number


def use(day: int, user: str, feature: str = "search", customer: str = "c1") -> t.Event:
    return ev("usage", day, user_id=user, customer_id=customer, feature=feature)


def visit(day: int, visitor: str) -> t.Event:
    return ev("visit", day, visitor_id=visitor)


def view_of(
    events: list[t.Event], partitions: int = 1, max_features: int = 50, split: Any = None
) -> UsageView:
    states = [PartitionActivity(p) for p in range(partitions)]
    for offset, event in enumerate(events):
        p = split(offset) if split else offset % partitions
        states[p].apply(event, offset)
    view = UsageView(max_features=max_features)
    for state in states:
        for key, value in state.drain()[0]:
            view.ingest(key, value)
    return view


def samples(
    view: UsageView, asof: int = TDAY
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(name, labels): value for name, labels, value in view.samples(asof)}


def users(s: dict, window: str) -> float:
    return s[("saas_active_users", (("window", window),))]


def feat(s: dict, feature: str, window: str) -> float | None:
    return s.get(("saas_feature_active_users", (("feature", feature), ("window", window))))


# -- unit ---------------------------------------------------------------------


def test_windows_end_at_asof_day_inclusive() -> None:
    events = [use(T, "today"), use(T - 1, "yesterday"), use(T - 6, "d6"), use(T - 7, "d7")]
    events += [use(T - 29, "d29"), use(T - 30, "d30"), use(T + 1, "tomorrow")]
    s = samples(view_of(events))
    assert users(s, "1d") == 1
    assert users(s, "7d") == 3  # today, yesterday, d6 — not d7
    assert users(s, "30d") == 5  # + d7, d29 — not d30 nor tomorrow


def test_per_feature_counts_stickiness_adoption_visitors() -> None:
    events = [use(T, "a", "search"), use(T, "a", "export"), use(T - 3, "b", "search")]
    events += [use(T - 10, "c", "export"), use(T - 10, "a", "search")]
    events += [visit(T, "v1"), visit(T - 20, "v2"), visit(T - 20, "v1"), visit(T - 30, "v3")]
    s = samples(view_of(events))
    assert (users(s, "1d"), users(s, "7d"), users(s, "30d")) == (1, 2, 3)
    assert (feat(s, "search", "1d"), feat(s, "search", "7d"), feat(s, "search", "30d")) == (1, 2, 2)
    assert (feat(s, "export", "1d"), feat(s, "export", "7d"), feat(s, "export", "30d")) == (1, 1, 2)
    assert s[("saas_stickiness", ())] == 1 / 3
    assert s[("saas_feature_adoption", (("feature", "search"),))] == 2 / 3
    assert s[("saas_feature_adoption", (("feature", "export"),))] == 2 / 3
    assert s[("saas_unique_visitors", (("window", "30d"),))] == 2


def test_no_usage_no_stickiness_sample() -> None:
    s = samples(view_of([visit(T, "v")]))
    assert users(s, "30d") == 0
    assert ("saas_stickiness", ()) not in s
    assert not any(name == "saas_feature_adoption" for name, _ in s)


def test_feature_cap_groups_the_rest_as_other() -> None:
    events = [use(T, u, "big") for u in "abcd"]
    events += [use(T - 5, u, "mid") for u in "abc"]
    events += [use(T - 9, u, "small") for u in "ab"]
    events += [use(T - 9, "z", "tiny"), use(T, "a", "tiny")]
    s = samples(view_of(events, max_features=2))
    features = {dict(lb)["feature"] for name, lb in s if name == "saas_feature_active_users"}
    assert features == {"big", "mid", "other"}
    assert feat(s, "big", "30d") == 4
    assert feat(s, "mid", "30d") == 3
    assert feat(s, "other", "30d") == 3  # distinct users of small + tiny: a, b, z
    assert feat(s, "other", "7d") == 1  # only a (tiny, day T)
    assert feat(s, "other", "1d") == 1


def test_user_counted_once_across_partitions_and_days() -> None:
    events = [use(T, "u1"), use(T, "u1"), use(T - 2, "u1"), use(T - 2, "u1", "export")]
    view = view_of(events, partitions=2)
    s = samples(view)
    assert (users(s, "1d"), users(s, "7d"), users(s, "30d")) == (1, 1, 1)
    assert feat(s, "search", "30d") == 1


def test_duplicate_event_id_is_skipped() -> None:
    state = PartitionActivity(0)
    state.apply(ev("usage", T, event_id="same", user_id="a", customer_id="c", feature="f"), 0)
    state.apply(ev("usage", T, event_id="same", user_id="b", customer_id="c", feature="f"), 1)
    assert (state.processed, state.duplicates, state.offset) == (1, 1, 1)


def test_many_ids_in_one_drain_go_out_in_bounded_chunks_and_all_restore(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A fast partition applies many events between two drains; each id chunk is one
    Kafka message and must stay small, and a restore still knows every id."""
    import tables.activity as activity

    monkeypatch.setattr(activity, "IDS_PER_CHUNK", 4)
    state = PartitionActivity(0)
    for offset in range(10):
        state.apply(
            ev("usage", T, event_id=f"e{offset}", user_id="u", customer_id="c", feature="f"), offset
        )
    snapshots = state.drain()[0]
    chunks = [orjson.loads(v) for k, v in snapshots if "|ids" in k and v is not None]
    assert [len(c) for c in chunks] == [4, 4, 2]
    view = UsageView()
    for key, value in snapshots:
        view.ingest(key, value)
    restored = PartitionActivity.restore(0, view.partition_parts(0))
    again = ev("usage", T, event_id="e3", user_id="u", customer_id="c", feature="f")
    restored.apply(again, 10)
    assert restored.duplicates == state.duplicates + 1


def test_snapshot_round_trip() -> None:
    events = [use(T - d, f"u{d % 5}", f"f{d % 3}") for d in range(12)]
    events += [visit(T - 3, "v1"), visit(T, "v2")]
    state = PartitionActivity(3)
    for offset, event in enumerate(events):
        state.apply(event, offset)
    view = UsageView()
    for key, value in state.drain()[0]:
        view.ingest(key, value)
    restored = PartitionActivity.restore(3, view.partition_parts(3))
    assert restored.offset == state.offset == len(events) - 1
    assert (restored.processed, restored.duplicates, restored.max_ts) == (
        state.processed,
        state.duplicates,
        state.max_ts,
    )
    assert {d: {k: c.estimate() for k, c in cs.items()} for d, cs in restored.days.items()} == {
        d: {k: c.estimate() for k, c in cs.items()} for d, cs in state.days.items()
    }
    # a restored state keeps counting where it left off (no double count of old users)
    restored.apply(use(T, "u0", "f0"), 100)
    restored.apply(use(T, "new", "f0"), 101)
    again = UsageView()
    for key, value in view.snapshots.items():
        again.ingest(key, value)
    for key, value in restored.drain()[0]:
        again.ingest(key, value)
    s = samples(again)
    assert users(s, "30d") == 6
    assert users(s, "1d") == 2


def test_replayed_message_is_skipped_by_owner() -> None:
    view = UsageView()
    store = Store()
    store.apply(started("c1", "s1", 4900, day=T - 60), "subscriptions")
    store.apply(started("c2", "s2", 4900, day=T - 60), "subscriptions")
    owner = UsageOwner(view, store, "state", "facts")
    sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(topic: str, key: bytes | None, value: bytes) -> None:
        sent.append((topic, key, value))

    owner.apply(0, 5, [use(T, "a", customer="c1")])
    owner.apply(0, 6, [use(T, "b", customer="c1")])
    assert asyncio.run(owner.publish(send)) > 0
    assert store.recency.last_day == {"c1": TDAY}
    assert store.recency.at_risk(TDAY) == 1  # c2 has no usage in 14 days
    # rebalance: the state is restored from the published snapshots
    asyncio.run(owner.forget())
    owner.apply(0, 6, [use(T, "replayed", customer="c2")])  # offset <= restored offset
    owner.apply(0, 4, [use(T, "older", customer="c2")])
    assert owner.partitions[0].offset == 6
    owner.apply(0, 7, [use(T, "c", customer="c1")])
    asyncio.run(owner.publish(send))
    s = samples(view)
    assert users(s, "1d") == 3  # a, b, c — not the replayed ones
    assert store.recency.at_risk(TDAY) == 1
    assert view.totals() == (3, 0)


# -- properties -----------------------------------------------------------------

usage_events = st.lists(
    st.tuples(
        st.integers(0, 45),  # days before T (some outside every window)
        st.sampled_from([f"u{i}" for i in range(12)]),
        st.sampled_from(["search", "export", "share", "admin"]),
    ),
    max_size=40,
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(raw: list[tuple[int, str, str]]) -> list[t.Event]:
    return [use(T - ago, user, feature) for ago, user, feature in raw]


@FAST
@given(usage_events)
def test_windows_are_nested_and_features_bounded(raw: list[tuple[int, str, str]]) -> None:
    s = samples(view_of(build(raw), max_features=2))
    dau, wau, mau = users(s, "1d"), users(s, "7d"), users(s, "30d")
    assert dau <= wau <= mau
    # exact below 1,000: the same as a direct count
    assert mau == len({u for ago, u, _ in raw if ago < 30})
    for (name, labels), value in s.items():
        if name == "saas_feature_active_users":
            assert value <= users(s, dict(labels)["window"])


@FAST
@given(usage_events, st.lists(st.integers(0, 7), min_size=40, max_size=40))
def test_partition_split_gives_identical_samples(
    raw: list[tuple[int, str, str]], assignment: list[int]
) -> None:
    events = build(raw)
    one = list(view_of(events, partitions=1).samples(TDAY))
    eight = list(view_of(events, partitions=8, split=assignment.__getitem__).samples(TDAY))
    assert one == eight


def test_large_counts_within_two_percent_and_split_invariant() -> None:
    n = 5_000
    events = [use(T - (i % 30), f"user-{i}", "f1" if i % 2 else "f2") for i in range(n)]
    one = samples(view_of(events, partitions=1))
    eight = samples(view_of(events, partitions=8))
    for s in (one, eight):
        assert abs(users(s, "30d") - n) <= 0.02 * n
        assert abs(feat(s, "f1", "30d") - n / 2) <= 0.02 * n / 2
    assert one == eight


def test_below_thousand_is_exact() -> None:
    n = 999
    events = [use(T - (i % 30), f"user-{i}") for i in range(n)]
    s = samples(view_of(events, partitions=8))
    assert users(s, "30d") == n
    assert users(s, "1d") == len(range(0, n, 30))


def test_expired_days_become_tombstones_and_leave_the_view() -> None:
    """Old days are dropped by the owner (tombstones for compaction) and by every view."""
    from tables.activity import KEEP_DAYS, PartitionActivity, UsageView, parse_key

    state, view = PartitionActivity(0), UsageView()
    state.apply(ev("usage", 0, user_id="u1", customer_id="c1", feature="api"), 0)
    for key, value in state.drain()[0]:
        view.ingest(key, value)
    assert any(parse_key(k)[1] == 20513 for k in view.snapshots)
    state.apply(ev("usage", KEEP_DAYS, user_id="u2", customer_id="c1", feature="api"), 1)
    snapshots, _ = state.drain()
    tombstones = [k for k, v in snapshots if v is None]
    assert {parse_key(k)[1] for k in tombstones} == {20513}
    for key, value in snapshots:
        view.ingest(key, value)
    assert all(parse_key(k)[1] != 20513 for k in view.snapshots)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 3), st.integers(0, 30), st.integers(0, 4)),
        min_size=1,
        max_size=60,
    )
)
def test_cached_view_equals_a_fresh_view(rows: list[tuple[int, int, int, int]]) -> None:
    """Scraping between every ingest (the caches) never changes what a fresh view reports."""
    from tables.activity import PartitionActivity, UsageView

    states = {p: PartitionActivity(p) for p in range(4)}
    live = UsageView(max_features=3)
    for offset, (day, partition, user, feature) in enumerate(rows):
        event = ev("usage", day, user_id=f"u{user}", customer_id="c", feature=f"f{feature}")
        states[partition].apply(event, offset)
        for key, value in states[partition].drain()[0]:
            live.ingest(key, value)
        list(live.samples(max(r[0] for r in rows[: offset + 1]) + 20513))
    fresh = UsageView(max_features=3)
    for key, value in live.snapshots.items():
        fresh.ingest(key, value)
    asof = max(r[0] for r in rows) + 20513
    assert sorted(live.samples(asof)) == sorted(fresh.samples(asof))


def test_restore_ignores_ids_newer_than_the_restored_offset() -> None:
    """An id chunk that landed ahead of the meta (crash mid-publish) must not turn the
    replay of its own messages into duplicates."""
    from tables.activity import PartitionActivity, UsageView, meta_key

    state, view = PartitionActivity(0), UsageView()
    first = ev("usage", 0, user_id="u1", customer_id="c", feature="f")
    state.apply(first, 0)
    state.offset = 0
    for key, value in state.drain()[0]:
        view.ingest(key, value)
    stale_meta = view.snapshots[meta_key(0)]
    second = ev("usage", 0, user_id="u2", customer_id="c", feature="f")
    state.apply(second, 1)
    state.offset = 1
    for key, value in state.drain()[0]:
        view.ingest(key, value)
    parts = {**view.partition_parts(0), meta_key(0): stale_meta}  # the new meta was lost
    restored = PartitionActivity.restore(0, parts)
    assert restored.offset == 0
    restored.apply(second, 1)  # the replay of offset 1
    restored.apply(first, 2)  # a real duplicate of offset 0
    assert (restored.processed, restored.duplicates) == (2, 1)


def test_pending_input_bytes_count_until_the_publish_that_acknowledges_them() -> None:
    """What the usage agent's back-pressure reads (engine/app.py `MAX_UNPUBLISHED`)."""
    owner = UsageOwner(UsageView(), Store(), "saas.usage-state", "saas.facts")
    acked: list[str] = []

    def ack(name: str) -> Any:
        async def done() -> None:
            acked.append(name)

        return done

    async def send(topic: str, key: bytes | None, value: bytes | None) -> None:
        return None

    owner.defer_ack(ack("a"), 1000)
    owner.defer_ack(ack("b"), 500)
    assert owner.pending_bytes == 1500 and acked == []
    asyncio.run(owner.publish(send))
    assert owner.pending_bytes == 0 and acked == ["a", "b"]
