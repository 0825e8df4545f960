"""Incidents a demo can fire on purpose: `--incident churn-spike|mrr-drop --incident-at WHEN`.

- `churn-spike`: a competitor launches; within three hours about 12 % of the
  paying customers (the less engaged ones more likely) cancel outright, so the
  30-day customer churn rate jumps by ~10 points (CustomerChurnSpike).
- `mrr-drop`: the largest accounts leave together; within 40 minutes customers
  holding at least a fifth of MRR cancel (MrrDrop: MRR below 95 % of an hour ago).

WHEN is a day of the history (`300`: day 300 counted from 0, at 12:00 UTC), an
RFC 3339 time (`2026-11-20T14:00:00Z`), or an offset from the simulation's
present (`-3d`, `+90m`, `+2h`): the end of a written history, or the moment a
live simulation starts producing in real time. Without WHEN: 12 hours before
the end of a written history, 10 minutes into a live one.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engine.simulation.accounts import Customer
from engine.simulation.world import World

INCIDENTS = ("churn-spike", "mrr-drop")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OFFSET = re.compile(r"([+-])(\d+)([smhd])")
DEFAULT_WHEN = {"history": "-12h", "live": "+10m"}


@dataclass(frozen=True)
class Incident:
    """What happens and when (UTC)."""

    kind: str
    at: datetime

    def __post_init__(self) -> None:
        if self.kind not in INCIDENTS:
            raise ValueError(f"unknown incident {self.kind!r}: one of {', '.join(INCIDENTS)}")


def incident_when(text: str) -> str:
    """Check a WHEN (argparse `type=`): a day number, an RFC 3339 time or a ±offset."""
    text = text.strip()
    if text.isdigit() or OFFSET.fullmatch(text):
        return text
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a day number, an RFC 3339 time or an offset like +90m"
        ) from None
    return text


def plan_incident(kind: str, when: str, start: datetime, present: datetime) -> Incident:
    """The incident at WHEN, resolved against the history's start and the simulation's present."""
    when = incident_when(when)
    if when.isdigit():
        at = start + timedelta(days=int(when), hours=12)
    elif match := OFFSET.fullmatch(when):
        sign = 1 if match[1] == "+" else -1
        at = present + timedelta(seconds=sign * int(match[2]) * UNITS[match[3]])
    else:
        parsed = datetime.fromisoformat(when.replace("Z", "+00:00"))
        at = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if at < start:
        raise ValueError(f"--incident-at {when}: {at:%Y-%m-%dT%H:%M:%SZ} is before the history")
    return Incident(kind, at.replace(microsecond=0))


def fire(kind: str, world: World, rng: random.Random, second: int, busy: dict[str, int]) -> None:
    """Make the incident happen in `world` from `second` of the current day on.

    `busy` maps a customer id to the last second of today at which it already
    has an event: a cancel comes after it, so nothing of a canceled
    subscription follows its cancel.
    """
    leave = _churn_spike if kind == "churn-spike" else _mrr_drop
    for cust, delay in leave(world, rng):
        sec = max(second + delay, busy.get(cust.id, -1) + 1)
        for sub in [s for s in cust.subs if s.state == "active"]:
            world.cancel(cust, sub, "switched_competitor", sec)


def _churn_spike(world: World, rng: random.Random) -> list[tuple[Customer, int]]:
    """About 12 % of the paying customers, the less engaged more likely, over three hours."""
    paying = [c for c in world.customers if c.paying()]
    leaving: list[tuple[Customer, int]] = []
    for _ in range(min(max(3, round(0.12 * len(paying))), len(paying))):
        cust = rng.choices(paying, [0.2 + (1 - c.engagement) for c in paying])[0]
        paying.remove(cust)
        leaving.append((cust, rng.randint(0, 3 * 3600)))
    return leaving


def _mrr_drop(world: World, rng: random.Random) -> list[tuple[Customer, int]]:
    """The largest accounts, until they hold a fifth of MRR, within 40 minutes."""
    paying = [c for c in world.customers if c.paying()]
    value = {c.id: sum(s.usd_mrr for s in c.subs) for c in paying}
    total, lost, leaving = sum(value.values()), 0.0, []
    for cust in sorted(paying, key=lambda c: (-value[c.id], c.id)):
        if lost >= 0.2 * total:
            break
        lost += value[cust.id]
        leaving.append((cust, rng.randint(0, 40 * 60)))
    return leaving
