"""Memory of the MAU state: 30 daily DistinctCounters vs one exact Python set of the ids.

Builds the state the engine keeps for N distinct users (default 10M): one counter
per day (per partition with --partitions), each day a subset of the users, all N
in the union. Every user is active on its home day (i mod 30); a third of them
come back on each of the two following days, so ids repeat across days. Prints
the state's bytes (serialised and in memory), the MAU estimate and its relative
error, and what an exact set of the same ids would take.

    python bench/distinct_memory.py [--users N] [--partitions P]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator

from tables.distinct import HLL_TYPE, LG_K, DistinctCounter

DAYS = 30
SAMPLE = 1_000_000


def day_users(day: int, users: int) -> Iterator[int]:
    """Users active on `day`: its home users and a third of the two days before."""
    yield from range(day, users, DAYS)
    for back in (1, 2):
        yield from range((day - back) % DAYS, users, 3 * DAYS)


def build_state(users: int, partitions: int) -> list[DistinctCounter]:
    counters = [DistinctCounter() for _ in range(DAYS * partitions)]
    for day in range(DAYS):
        row = counters[day * partitions : (day + 1) * partitions]
        if partitions == 1:
            row[0].update_many(f"u{i}" for i in day_users(day, users))
            continue
        for i in day_users(day, users):
            row[i % partitions].add(f"u{i}")
    return counters


def exact_set_bytes(users: int) -> tuple[int, int]:
    """Bytes of a set of `min(users, SAMPLE)` evenly spread ids and its strings."""
    sample = min(users, SAMPLE)
    ids = {f"u{i * users // sample}" for i in range(sample)}
    return sample, sys.getsizeof(ids) + sum(map(sys.getsizeof, ids))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--partitions", type=int, default=1)
    args = parser.parse_args(argv)
    users, partitions = args.users, args.partitions

    started = time.perf_counter()
    state = build_state(users, partitions)
    built = time.perf_counter() - started
    wire = sum(len(c.to_bytes()) for c in state)
    memory = sum(c.nbytes() for c in state)
    mau = DistinctCounter.union(state).estimate()
    error = abs(mau - users) / users
    sample, sample_bytes = exact_set_bytes(users)
    exact = sample_bytes * users // sample

    print(f"users={users:,} days={DAYS} partitions={partitions} counters={len(state)}")
    print(
        f"sketch: HLL lg_k={LG_K} {HLL_TYPE.name}; exact counters: {sum(c.is_exact for c in state)}"
    )
    print(f"built in {built:.1f} s")
    print(f"state serialised (sum of to_bytes): {wire:,} B")
    print(f"state in memory  (sum of nbytes):   {memory:,} B")
    print(f"MAU estimate={mau:,} true={users:,} relative error={error:.4%}")
    print(
        f"exact set of the ids: {exact:,} B (set + str objects via sys.getsizeof, "
        f"measured on {sample:,} ids and extrapolated linearly to {users:,})"
    )
    print(f"ratio exact/sketch state: {exact / memory:,.0f}x")
    print(f"mau_state_bytes={memory} exact_set_bytes={exact} users={users} rel_error={error:.6f}")


if __name__ == "__main__":
    main()
