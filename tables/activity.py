"""Usage and visits: per-partition daily distinct sets, merged into global windows.

Two halves, both pure:
- `PartitionActivity` is what the owner of one `saas.usage` partition keeps:
  per UTC day a distinct counter of users, of visitors and of users per
  feature, the last source offset applied, and which customers were active on
  which day (reported once per worker: an owner's partitions share one
  `NotedDays`). `drain()` hands out the parts that changed since the last call,
  as snapshots keyed `partition|day|dimension` (idempotent: the newest
  snapshot of a key replaces the older one) plus new (customer, day) pairs.
- `UsageView` is what every worker builds from all partitions' snapshots:
  DAU/WAU/MAU = the union over partitions and days of the daily counters, so a
  user seen on two partitions or two days counts once (SPEC §3).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import orjson

from events import types as t
from tables.dedupe import RecentIds
from tables.distinct import DistinctCounter
from tables.samples import capped, ratio

KEEP_DAYS = 31
USER_WINDOWS = (("1d", 1), ("7d", 7), ("30d", 30))
USERS, VISITORS, FEATURE = "u", "v", "f:"
META = "meta"
IDS = "ids"  # ring of recently applied event ids, one chunk per drain
ID_CHUNKS = 16
# ids per chunk: a chunk is one Kafka message (< 1 MiB at ~30 bytes an id), however
# many events a fast partition applied between two drains
IDS_PER_CHUNK = 20_000
Sample = tuple[str, tuple[tuple[str, str], ...], float]
NEVER = -(10**9)


class NotedDays:
    """The last day each customer was reported active, shared by the partitions one
    worker owns: a (customer, day) pair is reported once per worker, not once per
    partition (with 1 M customers spread over 4 partitions, per-partition copies
    held ~4 M entries, about 500 MB at 10 M users). Each day is one int object."""

    __slots__ = ("last", "_days")

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self._days: dict[int, int] = {}

    def note(self, customer_id: str, day: int) -> int | None:
        """`customer_id` was active on `day`: the day (its shared int object) if that is
        later than the last day reported for it, else None (already reported)."""
        if day <= self.last.get(customer_id, NEVER):
            return None
        shared = self.last[customer_id] = self._days.setdefault(day, day)
        return shared

    def clear(self) -> None:
        self.last.clear()


class PartitionActivity:
    """The usage state of one partition, owned by one worker at a time."""

    def __init__(self, partition: int, noted: NotedDays | None = None) -> None:
        self.partition = partition
        self.days: dict[int, dict[str, DistinctCounter]] = {}
        self.offset = -1
        self.max_ts: float | None = None
        self.processed = 0
        self.duplicates = 0
        self._recent = RecentIds()
        self._noted = NotedDays() if noted is None else noted
        self._new_activity: list[tuple[str, int]] = []
        self._dirty: set[tuple[int, str]] = set()
        self._expired: list[str] = []
        self._new_ids: list[tuple[int, str]] = []  # (source offset, event_id)
        self._ids_seq = 0
        self._meta_dirty = False

    def apply(self, event: t.Event, offset: int) -> None:
        """Apply one usage/visit event read at `offset` of this partition."""
        if offset > self.offset:
            self.offset = offset
        self._meta_dirty = True
        event_id = event.event_id
        recent = self._recent
        if event_id in recent:
            self.duplicates += 1
            return
        recent.add(event_id)
        self.processed += 1
        self._new_ids.append((offset, event_id))
        max_ts = self.max_ts
        if max_ts is None or event.ts > max_ts:
            self.max_ts = event.ts
        if isinstance(event, t.Usage):
            self._count(event.day, USERS, event.user_id)
            self._count(event.day, FEATURE + event.feature, event.user_id)
            noted = self._noted.note(event.customer_id, event.day)
            if noted is not None:
                self._new_activity.append((event.customer_id, noted))
        elif isinstance(event, t.Visit):
            self._count(event.day, VISITORS, event.visitor_id)

    def apply_all(self, events: Sequence[t.Event], offset: int) -> None:
        """`apply` each event of the message read at `offset`, with the same result; the
        batch path's hot loop. Ids reach each counter in the same order as one by one,
        collected while the day stays the same: one counter update and one dirty mark
        per day and dimension instead of per event."""
        if len(events) == 1:  # one event per message: fewer steps one by one
            self.apply(events[0], offset)
            return
        if offset > self.offset:
            self.offset = offset
        if not events:
            return
        self._meta_dirty = True
        recent, new_ids, note = self._recent, self._new_ids, self._noted.note
        max_ts, processed, day = self.max_ts, 0, None
        users: list[str] = []
        visitors: list[str] = []
        features: dict[str, list[str]] = {}
        for event in events:
            event_id = event.event_id
            if event_id in recent:
                self.duplicates += 1
                continue
            recent.add(event_id)
            processed += 1
            new_ids.append((offset, event_id))
            if max_ts is None or event.ts > max_ts:
                max_ts = event.ts
            if event.day != day:
                if day is not None:
                    self._count_day(day, users, visitors, features)
                    users, visitors, features = [], [], {}
                day = event.day
            if isinstance(event, t.Usage):
                user = event.user_id
                users.append(user)
                same = features.get(event.feature)
                if same is None:
                    features[event.feature] = [user]
                else:
                    same.append(user)
                noted = note(event.customer_id, day)
                if noted is not None:
                    self._new_activity.append((event.customer_id, noted))
            elif isinstance(event, t.Visit):
                visitors.append(event.visitor_id)
        if day is not None:
            self._count_day(day, users, visitors, features)
        self.processed += processed
        self.max_ts = max_ts

    def _count_day(
        self, day: int, users: list[str], visitors: list[str], features: dict[str, list[str]]
    ) -> None:
        self._count_all(day, USERS, users)
        self._count_all(day, VISITORS, visitors)
        for feature, ids in features.items():
            self._count_all(day, FEATURE + feature, ids)

    def _count_all(self, day: int, dimension: str, items: list[str]) -> None:
        if items and self._counter(day, dimension).add_all(items):
            self._dirty.add((day, dimension))

    def _count(self, day: int, dimension: str, item: str) -> None:
        if self._counter(day, dimension).add(item):
            self._dirty.add((day, dimension))

    def _counter(self, day: int, dimension: str) -> DistinctCounter:
        counters = self.days.get(day)
        if counters is None:
            counters = self.days[day] = {}
            self._expire(day)
        counter = counters.get(dimension)
        if counter is None:
            counter = counters[dimension] = DistinctCounter()
        return counter

    def _expire(self, newest: int) -> None:
        latest = max(self.days)
        if newest < latest:
            return
        for day in [d for d in self.days if d <= latest - KEEP_DAYS]:
            self._expired.extend(
                snapshot_key(self.partition, day, dim) for dim in sorted(self.days.pop(day))
            )

    def drain(self) -> tuple[list[tuple[str, bytes | None]], list[tuple[str, int]]]:
        """Snapshots changed since the last drain (None = tombstone of an expired day),
        and new (customer, day) pairs."""
        snapshots: list[tuple[str, bytes | None]] = [(key, None) for key in self._expired]
        snapshots += [
            (snapshot_key(self.partition, day, dim), self.days[day][dim].to_bytes())
            for day, dim in sorted(self._dirty)
            if day in self.days and dim in self.days[day]
        ]
        self._expired = []
        for start in range(0, len(self._new_ids), IDS_PER_CHUNK):
            chunk = f"{IDS}{self._ids_seq % ID_CHUNKS}"
            ids = self._new_ids[start : start + IDS_PER_CHUNK]
            snapshots.append((snapshot_key(self.partition, -1, chunk), orjson.dumps(ids)))
            self._ids_seq += 1
        self._new_ids = []
        if self._meta_dirty or snapshots:
            snapshots.append((meta_key(self.partition), self.meta()))
        activity, self._new_activity, self._dirty, self._meta_dirty = (
            self._new_activity,
            [],
            set(),
            False,
        )
        return snapshots, activity

    def meta(self) -> bytes:
        return orjson.dumps(
            {
                "offset": self.offset,
                "ts": self.max_ts,
                "processed": self.processed,
                "dup": self.duplicates,
                "ids_seq": self._ids_seq,
            }
        )

    @classmethod
    def restore(
        cls, partition: int, parts: dict[str, bytes], noted: NotedDays | None = None
    ) -> PartitionActivity:
        """Rebuild from the newest snapshots of this partition (`dimension key -> bytes`)."""
        state = cls(partition, noted)
        id_chunks = []
        for key, value in parts.items():
            _partition, day, dim = parse_key(key)
            if dim == META:
                meta = orjson.loads(value)
                state.offset, state.max_ts = meta["offset"], meta["ts"]
                state.processed, state.duplicates = meta["processed"], meta["dup"]
                state._ids_seq = meta.get("ids_seq", 0)
            elif dim.startswith(IDS):
                id_chunks.append(value)
            else:
                state.days.setdefault(day, {})[dim] = DistinctCounter.from_bytes(value)
        # Snapshot keys land on different partitions of the topic, so after a crash
        # an id chunk may be newer than the meta: ids past the restored offset are
        # replayed and must not count as duplicates of themselves.
        for chunk in id_chunks:
            for offset, event_id in orjson.loads(chunk):
                if offset <= state.offset:
                    state._recent.add(event_id)
        return state


def snapshot_key(partition: int, day: int, dimension: str) -> str:
    return f"{partition}|{'-' if day < 0 else day}|{dimension}"


def meta_key(partition: int) -> str:
    return snapshot_key(partition, -1, META)


def parse_key(key: str) -> tuple[int, int, str]:
    partition, day, dimension = key.split("|", 2)
    return int(partition), (-1 if day == "-" else int(day)), dimension


class UsageView:
    """Global usage KPIs from every partition's newest snapshots."""

    def __init__(self, max_features: int = 50) -> None:
        self.max_features = max_features
        self.snapshots: dict[str, bytes] = {}
        self._decoded: dict[str, DistinctCounter] = {}
        self._keys: dict[tuple[int, str], list[str]] | None = None
        self._days_cache: dict[tuple[int, str], DistinctCounter] = {}
        self._past_cache: dict[tuple[int, int, str], DistinctCounter] = {}
        self._window_cache: dict[tuple[int, int, str], DistinctCounter] = {}
        self._past_asof = -(10**9)
        self._meta: dict[int, dict[str, object]] = {}
        self._latest_day = -(10**9)

    def ingest(self, key: str, value: bytes | None) -> None:
        """A record of the usage-state topic (None value = tombstone)."""
        if value is None:
            self.snapshots.pop(key, None)
        else:
            self.snapshots[key] = value
        partition, day, dimension = parse_key(key)
        if dimension == META and value is not None:
            self._meta[partition] = orjson.loads(value)
        elif day >= 0:
            self._invalidate(key, day, dimension)
        if day > self._latest_day:
            self._latest_day = day
            self._forget_before(day - KEEP_DAYS)

    def _invalidate(self, key: str, day: int, dimension: str) -> None:
        self._decoded.pop(key, None)
        index = self._keys
        if index is not None and (
            key not in self.snapshots or key not in index.get((day, dimension), ())
        ):
            self._keys = None  # a key appeared or disappeared
        self._days_cache.pop((day, dimension), None)
        for cached in [
            c for c in self._past_cache if c[2] == dimension and c[0] - c[1] < day < c[0]
        ]:
            del self._past_cache[cached]
        for cached in [c for c in self._window_cache if c[2] == dimension and c[0] - c[1] < day]:
            del self._window_cache[cached]

    def _forget_before(self, oldest: int) -> None:
        """Drop snapshots of days no window can reach (bounded memory without tombstones)."""
        for key in [k for k in self.snapshots if -1 < parse_key(k)[1] <= oldest]:
            del self.snapshots[key]
            self._decoded.pop(key, None)
        self._keys = None
        self._days_cache = {k: v for k, v in self._days_cache.items() if k[0] > oldest}
        self._window_cache.clear()

    def partition_parts(self, partition: int) -> dict[str, bytes]:
        return {k: v for k, v in self.snapshots.items() if parse_key(k)[0] == partition}

    @property
    def asof(self) -> float | None:
        stamps = [float(m["ts"]) for m in self._meta.values() if m.get("ts") is not None]  # type: ignore[arg-type]
        return max(stamps) if stamps else None

    def totals(self) -> tuple[int, int]:
        """Usage events processed and duplicates skipped, summed over partitions."""
        processed = sum(int(m.get("processed", 0)) for m in self._meta.values())  # type: ignore[call-overload]
        duplicates = sum(int(m.get("dup", 0)) for m in self._meta.values())  # type: ignore[call-overload]
        return processed, duplicates

    def _counter(self, key: str) -> DistinctCounter:
        counter = self._decoded.get(key)
        if counter is None:
            counter = self._decoded[key] = DistinctCounter.from_bytes(self.snapshots[key])
        return counter

    def _index(self) -> dict[tuple[int, str], list[str]]:
        """(day, dimension) -> snapshot keys of every partition."""
        if self._keys is None:
            self._keys = {}
            for key in self.snapshots:
                _partition, day, dimension = parse_key(key)
                if day >= 0 and dimension != META and not dimension.startswith(IDS):
                    self._keys.setdefault((day, dimension), []).append(key)
        return self._keys

    def _day_union(self, day: int, dimension: str) -> DistinctCounter:
        """One day of one dimension over all partitions, cached until one of them changes."""
        cached = self._days_cache.get((day, dimension))
        if cached is None:
            keys = self._index().get((day, dimension), [])
            cached = DistinctCounter.union(self._counter(k) for k in keys)
            self._days_cache[(day, dimension)] = cached
        return cached

    def _window(self, asof_day: int, days: int, dimension: str) -> DistinctCounter:
        """Union over the window, cached until one of its days changes; the days before
        `asof_day` are cached apart, so a change of today only merges two counters."""
        key = (asof_day, days, dimension)
        whole = self._window_cache.get(key)
        if whole is None:
            past = self._past_cache.get(key)
            if past is None:
                span = range(asof_day - days + 1, asof_day)
                past = DistinctCounter.union(self._day_union(d, dimension) for d in span)
                self._past_cache[key] = past
            whole = DistinctCounter.union([past, self._day_union(asof_day, dimension)])
            self._window_cache[key] = whole
        return whole

    def _union(self, asof_day: int, days: int, dimensions: Iterable[str]) -> DistinctCounter:
        windows = [self._window(asof_day, days, d) for d in dimensions]
        return windows[0] if len(windows) == 1 else DistinctCounter.union(windows)

    def samples(self, asof_day: int | None) -> Iterator[Sample]:
        if asof_day is None:
            asof_day = -(10**9)
        if asof_day != self._past_asof:  # windows moved: yesterday's parts are stale
            self._past_cache, self._window_cache, self._past_asof = {}, {}, asof_day
        users = {w: self._union(asof_day, n, [USERS]).estimate() for w, n in USER_WINDOWS}
        for window, count in users.items():
            yield "saas_active_users", (("window", window),), float(count)
        mau = users["30d"]
        yield from _some("saas_stickiness", (), ratio(users["1d"], mau))
        yield (
            "saas_unique_visitors",
            (("window", "30d"),),
            float(self._union(asof_day, 30, [VISITORS]).estimate()),
        )
        yield from self._feature_samples(asof_day, mau)

    def _feature_samples(self, asof_day: int, mau: int) -> Iterator[Sample]:
        groups = self._feature_groups(asof_day)
        for label, dims in groups:
            for window, days in USER_WINDOWS:
                count = self._union(asof_day, days, dims).estimate()
                yield (
                    "saas_feature_active_users",
                    (("feature", label), ("window", window)),
                    float(count),
                )
                if window == "30d":
                    yield from _some(
                        "saas_feature_adoption", (("feature", label),), ratio(count, mau)
                    )

    def _feature_groups(self, asof_day: int) -> list[tuple[str, list[str]]]:
        names = {
            dim
            for (day, dim) in self._index()
            if dim.startswith(FEATURE) and asof_day - 30 < day <= asof_day
        }
        users = {d[len(FEATURE) :]: self._union(asof_day, 30, [d]).estimate() for d in names}
        groups = capped(users, self.max_features)
        return [(label, [FEATURE + name for name in group]) for label, group in groups]


def _some(name: str, labels: tuple[tuple[str, str], ...], value: float | None) -> Iterator[Sample]:
    if value is not None:
        yield name, labels, value
