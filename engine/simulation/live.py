"""`run --simulate` / `simulate --live`: feed a simulated business into the topics, live.

First a backfill: `days` of history from midnight UTC `days` days ago up to
now, so every window has data from the first scrape. Then, every second, the
events up to the simulated clock. By default that clock is the wall clock (real
time): the as-of time T follows it and never passes it, so a rule such as
MrrDrop's `offset 1h` compares with one real hour ago. `--speed N` (explicit,
for a demo) runs simulated time N times faster than the wall clock from the end
of the backfill on, so T then runs ahead of the clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import AIOKafkaProducer
from mode import Service

from engine import kafka
from engine.ingest import route
from engine.settings import Settings
from engine.simulation import incidents
from engine.simulation.simulator import SimConfig, Simulator

log = logging.getLogger("streamkpi.live")
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class SimClock:
    """Where the simulated clock is: `live_from` (the end of the backfill) plus speed x elapsed.

    Pure: `at(elapsed)` takes the monotonic seconds since the backfill ended.
    With speed 1 it is the wall clock itself, never ahead of it.
    """

    live_from: datetime
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"--speed must be > 0, not {self.speed}")

    def at(self, elapsed: float) -> datetime:
        return self.live_from + timedelta(seconds=max(elapsed, 0.0) * self.speed)


class LiveSimulation(Service):
    """Produces the backfill, then follows `SimClock` one tick a second until stopped."""

    def __init__(
        self,
        settings: Settings,
        config: SimConfig,
        speed: float = 1.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.settings, self.config, self.speed, self.now = settings, config, speed, now
        self.sent = 0

    async def on_start(self) -> None:
        self.add_future(self._run())

    async def _run(self) -> None:
        producer = AIOKafkaProducer(linger_ms=10, **kafka.client_options(self.settings))
        await producer.start()
        try:
            simulator = Simulator(self.config)
            cursor, started = self.now().replace(microsecond=0), time.monotonic()
            await self._send(producer, simulator, self.config.start, cursor)
            # the backfill took a while: the live clock starts where the wall clock is now
            live_from = cursor + timedelta(seconds=time.monotonic() - started)
            clock, began = SimClock(live_from, self.speed), time.monotonic()
            log.info("backfill done up to %s; live from %s at %sx", cursor, live_from, self.speed)
            while not self.should_stop:
                await asyncio.sleep(TICK_SECONDS)
                target = clock.at(time.monotonic() - began)
                await self._send(producer, simulator, cursor, target)
                cursor = target
        finally:
            await producer.stop()

    async def _send(
        self, producer: AIOKafkaProducer, sim: Simulator, t0: datetime, t1: datetime
    ) -> None:
        step = timedelta(hours=6)
        while t0 < t1:
            end = min(t0 + step, t1)
            for item in sim.events_between(t0, end):
                line = orjson.dumps(item)
                suffix, key = route(line)
                await producer.send(self.settings.topic(suffix), line, key=key)
                self.sent += 1
            t0 = end
            await asyncio.sleep(0)
        await producer.flush()


def live_config(
    customers: int,
    days: int,
    seed: int,
    currency: str,
    incident: str | None = None,
    incident_at: str | None = None,
    now: datetime | None = None,
) -> SimConfig:
    """The live simulation's config: `days` of backfill from midnight UTC, `days` days ago.

    An incident's relative WHEN (`+10m`, `-2h`) counts from `now`, the moment
    the simulation starts producing live.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = now.replace(hour=0, minute=0, second=0) - timedelta(days=days)
    planned = None
    if incident is not None:
        when = incident_at or incidents.DEFAULT_WHEN["live"]
        planned = incidents.plan_incident(incident, when, start, now)
    elif incident_at is not None:
        raise ValueError("--incident-at needs --incident")
    return SimConfig(
        customers=customers, days=days, seed=seed, start=start, currency=currency, incident=planned
    )
