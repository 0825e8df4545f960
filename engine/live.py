"""`run --simulate` / `simulate --live`: feed a simulated business into the topics in real time.

First a backfill of `days` of history ending now (so every window has data
from the first scrape), then, every second, the events of the last second of
simulated time, which runs at wall-clock speed: T follows the real clock.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import AIOKafkaProducer
from mode import Service

from engine import kafka
from engine.ingest import route
from engine.settings import Settings
from engine.simulator import SimConfig, Simulator

log = logging.getLogger("streamkpi.live")


class LiveSimulation(Service):
    def __init__(self, settings: Settings, config: SimConfig, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.settings = settings
        self.config = config
        self.sent = 0

    async def on_start(self) -> None:
        self.add_future(self._run())

    async def _run(self) -> None:
        producer = AIOKafkaProducer(linger_ms=10, **kafka.client_options(self.settings))
        await producer.start()
        try:
            simulator = Simulator(self.config)
            cursor = self.config.start
            while not self.should_stop:
                now = datetime.now(UTC).replace(microsecond=0)
                if now > cursor:
                    await self._send(producer, simulator, cursor, now)
                    cursor = now
                await asyncio.sleep(1.0)
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
