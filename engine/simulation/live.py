"""`run --simulate` / `simulate --live`: feed a simulated business into the topics in real time.

First a backfill of `days` of history ending one day before now (so every
window has data from the first scrape), then, every second, the events of the
next `speed` seconds of simulated time (default 3600: a simulated day every
24 real seconds), so a demo shows gauges moving within seconds. T catches
up with the real clock within a minute and then runs ahead of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import AIOKafkaProducer
from mode import Service

from engine import kafka
from engine.ingest import route
from engine.settings import Settings
from engine.simulation.simulator import SimConfig, Simulator

log = logging.getLogger("streamkpi.live")


class LiveSimulation(Service):
    def __init__(
        self, settings: Settings, config: SimConfig, speed: float = 3600.0, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.settings = settings
        self.config = config
        self.speed = speed
        self.sent = 0

    async def on_start(self) -> None:
        self.add_future(self._run())

    async def _run(self) -> None:
        producer = AIOKafkaProducer(linger_ms=10, **kafka.client_options(self.settings))
        await producer.start()
        try:
            simulator = Simulator(self.config)
            live_from = self.config.start + timedelta(days=self.config.days)
            await self._send(producer, simulator, self.config.start, live_from)
            began, cursor = time.monotonic(), live_from
            while not self.should_stop:
                await asyncio.sleep(1.0)
                target = live_from + timedelta(seconds=(time.monotonic() - began) * self.speed)
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


def live_config(customers: int, days: int, seed: int, currency: str) -> SimConfig:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=days
    )
    return SimConfig(customers=customers, days=days, seed=seed, start=start, currency=currency)
