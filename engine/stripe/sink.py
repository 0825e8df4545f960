"""The receiver's Kafka producer: every send acknowledged, or an `Unavailable`.

The webhook and the collector answer 200 only after Kafka acknowledged what
they produced (SPEC §6), and 503 otherwise so that the sender retries. A
producer that failed once (broker down, a timeout) is dropped and a fresh one
is started on the next request: aiokafka recovers from most outages by itself,
but a new client is the one state we know is clean. What the dropped producer
may still deliver later is harmless: every record it held is sent again by the
retry with the same `event_id`, and the workers count an event id once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer

log = logging.getLogger("streamkpi.stripe.sink")
T = TypeVar("T")
Send = tuple[str, bytes | None, bytes]  # topic, key, value


class Unavailable(Exception):
    """Kafka did not acknowledge in time: answer 503, the sender retries."""


class Sink:
    def __init__(self, client_options: dict[str, Any], timeout: float = 10.0) -> None:
        self.client_options = client_options
        self.timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._closing: set[asyncio.Task[None]] = set()

    async def _ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                acks="all",
                linger_ms=2,
                retry_backoff_ms=500,  # during an outage: fewer reconnect attempts and log lines
                max_request_size=4 << 20,
                request_timeout_ms=int(self.timeout * 1000),
                **self.client_options,
            )
            try:
                await producer.start()
            except BaseException:
                self._discard(producer)
                raise
            self._producer = producer
        return self._producer

    async def call(self, action: Callable[[AIOKafkaProducer], Awaitable[T]]) -> T:
        """Run `action` with a started producer within the timeout, or raise Unavailable."""
        try:
            async with asyncio.timeout(self.timeout):
                return await action(await self._ready())
        except Exception as exc:  # noqa: BLE001 - any Kafka failure means "retry later"
            log.warning("Kafka unavailable: %s", type(exc).__name__)
            if self._producer is not None:
                self._discard(self._producer)
                self._producer = None
            raise Unavailable(type(exc).__name__) from None

    async def send_all(self, records: Sequence[Send]) -> None:
        """Produce every record and wait until Kafka acknowledged all of them."""
        if not records:
            return

        async def send(producer: AIOKafkaProducer) -> None:
            pending = [await producer.send(t, value, key=key) for t, key, value in records]
            await asyncio.gather(*pending)

        await self.call(send)

    def _discard(self, producer: AIOKafkaProducer) -> None:
        """Stop a failed producer in the background (stopping flushes, which may hang)."""
        task = asyncio.get_running_loop().create_task(_stop(producer, self.timeout))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        if self._producer is not None:
            await _stop(self._producer, self.timeout)
            self._producer = None
        for task in list(self._closing):
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)


async def _stop(producer: AIOKafkaProducer, grace: float) -> None:
    with contextlib.suppress(Exception, asyncio.TimeoutError):
        async with asyncio.timeout(grace):
            await producer.stop()
