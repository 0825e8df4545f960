"""`streamkpi stripe webhook`: the HTTP receiver for Stripe and for an app's own events.

Routes (SPEC §6, docs/stripe.md):

- `POST /stripe/webhook` — a signed Stripe event: verified (engine.stripe.signature),
  translated by the pure mapping against the connector's memory, its derived
  events produced and acknowledged, then the memory updates saved, then 200.
  400 for a bad signature, a stale timestamp, invalid JSON or a body over
  1 MiB (nothing changed); 503 when Kafka does not acknowledge or the secret
  is not configured, so that Stripe retries.
- `POST /events` — the HTTP collector (engine.stripe.intake), on only when
  `STREAMKPI_COLLECTOR_TOKEN` is set (else 404); bearer token (401), 413 over 1 MiB.
- `GET /healthz`, `GET /metrics` (its own registry).

Deliveries that touch the memory run one at a time (an asyncio lock): two
concurrent deliveries of one subscription must not both diff against the same
last snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from engine import kafka
from engine.settings import Settings
from engine.stripe import intake
from engine.stripe.follower import StateFollower
from engine.stripe.mapping import translate
from engine.stripe.memory import STATE_TOPIC_SUFFIX, Memory, save_updates
from engine.stripe.signature import TOLERANCE, verify
from engine.stripe.sink import Sink, Unavailable
from engine.stripe.telemetry import Telemetry
from events import schema
from events.codec import dead_letter
from events.types import Rejection

log = logging.getLogger("streamkpi.stripe.receiver")

SECRET_ENV = "STREAMKPI_STRIPE_WEBHOOK_SECRET"
TOKEN_ENV = "STREAMKPI_COLLECTOR_TOKEN"
MAX_BODY = 1 << 20
WEBHOOK_SOURCE = "stripe:webhook"  # the `topic` of a dead letter from the webhook
COLLECTOR_SOURCE = "http:/events"  # ... and from the collector


@dataclass(frozen=True)
class ReceiverConfig:
    """Where to listen and the two credentials (never shown by repr)."""

    port: int = 8787
    bind: str = "127.0.0.1"
    webhook_secret: str | None = field(default=None, repr=False)
    collector_token: str | None = field(default=None, repr=False)
    tolerance: float = TOLERANCE
    kafka_timeout: float = 10.0
    max_body: int = MAX_BODY

    @classmethod
    def from_env(
        cls, port: int | None = None, bind: str | None = None, environ: Any = None
    ) -> ReceiverConfig:
        """Credentials come only from the environment (an empty value is unset)."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            port=defaults.port if port is None else port,
            bind=bind or defaults.bind,
            webhook_secret=env.get(SECRET_ENV) or None,
            collector_token=env.get(TOKEN_ENV) or None,
        )


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None when it is longer than `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _stripe_event(body: bytes) -> dict[str, Any] | str:
    """The Stripe event object of a verified body, or why the body is not one.

    Only the envelope is checked here (answered 400); a well-formed event whose
    `data.object` the mapping cannot read is a rejected translation instead
    (answered 200 and dead-lettered: Stripe retrying it would not help)."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "invalid_json"
    if not isinstance(obj, dict) or obj.get("object") != "event":
        return "not_a_stripe_event"
    if not isinstance(obj.get("id"), str) or not isinstance(obj.get("type"), str):
        return "not_a_stripe_event"
    return obj


class Receiver:
    """The aiohttp application and the Kafka side it needs; start() then stop()."""

    def __init__(
        self, settings: Settings, config: ReceiverConfig, registry: CollectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.config = config
        self.registry = registry or CollectorRegistry()
        self.metrics = Telemetry(self.registry)
        self.options = kafka.client_options(settings)
        self.sink = Sink(self.options, timeout=config.kafka_timeout)
        self.state_topic = settings.topic(STATE_TOPIC_SUFFIX)
        self.follower = StateFollower(self.options, self.state_topic)
        self.memory: Memory | None = None
        self.lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self.port = config.port

    def __repr__(self) -> str:  # the config's repr hides the credentials
        return f"Receiver({self.settings.bootstrap!r}, {self.config!r})"

    # -- lifecycle -------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/stripe/webhook", self.stripe_webhook)
        app.router.add_post("/events", self.events)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics_page)
        return app

    async def start(self) -> None:
        """Reach Kafka, create missing topics, load the memory, then listen."""
        from engine.broker import ensure_topics, wait_for_broker

        await wait_for_broker(self.options, timeout=self.settings.connect_timeout)
        await ensure_topics(self.settings, self.options)
        self.memory = await self.follower.start()
        log.info("stripe memory: %d entries from %s", len(self.memory), self.state_topic)
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.bind, self.config.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the real one when --port 0

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.sink.close()
        await self.follower.stop()

    # -- routes ----------------------------------------------------------------

    async def healthz(self, _request: web.Request) -> web.Response:
        return _json(200, {"status": "ok", "memory_entries": len(self.memory or ())})

    async def metrics_page(self, _request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def stripe_webhook(self, request: web.Request) -> web.Response:
        response = await self._webhook(request)
        self.metrics.inc("saas_stripe_webhook_requests", str(response.status))
        return response

    async def _webhook(self, request: web.Request) -> web.Response:
        secret = self.config.webhook_secret
        if not secret:
            return _json(503, {"error": f"webhook not configured: {SECRET_ENV} is not set"})
        body = await read_limited(request, self.config.max_body)
        if body is None:
            return self._refuse("too_large")
        header = request.headers.get("Stripe-Signature")
        reason = verify(body, header, secret, time.time(), self.config.tolerance)
        if reason:
            return self._refuse(reason)
        event = _stripe_event(body)
        if isinstance(event, str):
            return self._refuse(event)
        try:
            async with self.lock:
                result = await self._deliver(event, body)
        except Unavailable:
            return _json(503, {"error": "Kafka unavailable, retry later"})
        self.metrics.inc("saas_stripe_events", event["type"][:64], result["outcome"])
        if result["outcome"] == "rejected":
            self.metrics.inc("saas_stripe_rejected", result["reason"][:64] or "mapping")
        return _json(200, result)

    def _refuse(self, reason: str) -> web.Response:
        self.metrics.inc("saas_stripe_events", "unknown", "rejected")
        self.metrics.inc("saas_stripe_rejected", reason)
        return _json(400, {"error": reason})

    async def _deliver(self, event: dict[str, Any], body: bytes) -> dict[str, Any]:
        """Translate, produce, await acks, save the memory updates: the order that
        lets a failure at any step be retried with the same derived event ids."""
        assert self.memory is not None, "start() loads the memory first"
        await self._catch_up()
        result = translate(event, self.memory)
        records = [self._record(derived) for derived in result.events]
        if result.outcome == "rejected":
            rejection = Rejection(result.reason or "rejected", event["type"][:64], body)
            dead = dead_letter(rejection, WEBHOOK_SOURCE)
            records.append((self.settings.topic(schema.REJECTED), event["id"].encode(), dead))
        await self.sink.send_all(records)
        if result.updates:
            updates = result.updates
            await self.sink.call(lambda producer: save_updates(producer, self.state_topic, updates))
            self.memory.commit(updates)
        return {"outcome": result.outcome, "events": len(result.events), "reason": result.reason}

    async def _catch_up(self) -> None:
        """Read what other writers (`stripe import`) saved since the last delivery."""
        try:
            async with asyncio.timeout(self.config.kafka_timeout):
                await self.follower.catch_up()
        except Exception as exc:  # noqa: BLE001 - any Kafka failure means "retry later"
            log.warning("cannot read %s: %s", self.state_topic, type(exc).__name__)
            raise Unavailable(type(exc).__name__) from None

    def _record(self, derived: dict[str, Any]) -> tuple[str, bytes | None, bytes]:
        suffix = schema.topic_of(derived["type"]) or schema.BUSINESS
        return self.settings.topic(suffix), intake.key_of(derived, suffix), orjson.dumps(derived)

    async def events(self, request: web.Request) -> web.Response:
        response = await self._events(request)
        self.metrics.inc("saas_collector_requests", str(response.status))
        return response

    async def _events(self, request: web.Request) -> web.Response:
        token = self.config.collector_token
        if not token:
            return _json(404, {"error": f"collector off: {TOKEN_ENV} is not set"})
        if not _authorized(request.headers.get("Authorization"), token):
            return web.Response(
                status=401,
                body=orjson.dumps({"error": "a valid Authorization: Bearer token is required"}),
                content_type="application/json",
                headers={"WWW-Authenticate": 'Bearer realm="streamkpi"'},
            )
        body = await read_limited(request, self.config.max_body)
        if body is None:
            return _json(413, {"error": f"body over {self.config.max_body} bytes"})
        try:
            items = intake.parse_body(body)
        except intake.BodyError as exc:
            return _json(400, {"error": exc.reason, "detail": exc.detail})
        judged = [intake.judge(obj) for obj in items]
        try:
            await self.sink.send_all([self._collected(item) for item in judged])
        except Unavailable:
            return _json(503, {"error": "Kafka unavailable, retry later"})
        return _json(200, self._collector_report(judged, items))

    def _collected(self, item: intake.Record | Rejection) -> tuple[str, bytes | None, bytes]:
        """An accepted event to its topic, a rejected one as a dead letter."""
        if isinstance(item, intake.Record):
            return self.settings.topic(item.suffix), item.key, item.value
        return self.settings.topic(schema.REJECTED), None, dead_letter(item, COLLECTOR_SOURCE)

    def _collector_report(
        self, judged: list[intake.Record | Rejection], items: list[Any]
    ) -> dict[str, Any]:
        results = [intake.outcome(item, obj) for item, obj in zip(judged, items, strict=True)]
        accepted = sum(1 for line in results if line["outcome"] == "accepted")
        self.metrics.inc("saas_collector_events", "accepted", by=accepted)
        self.metrics.inc("saas_collector_events", "rejected", by=len(results) - accepted)
        for item in judged:
            if isinstance(item, Rejection):
                self.metrics.inc("saas_collector_rejected", item.reason)
        return {"accepted": accepted, "rejected": len(results) - accepted, "results": results}


def _authorized(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


async def run(settings: Settings, config: ReceiverConfig) -> None:
    """Serve until SIGINT or SIGTERM; in-flight requests finish first."""
    receiver = Receiver(settings, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await receiver.start()
    webhook = "on" if config.webhook_secret else f"503 until {SECRET_ENV} is set"
    collector = "on" if config.collector_token else f"off ({TOKEN_ENV} unset)"
    print(
        f"stripe receiver on http://{config.bind}:{receiver.port} "
        f"(webhook {webhook}, /events {collector})",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await receiver.stop()


def serve(settings: Settings, config: ReceiverConfig) -> int:
    """Run the receiver (what `streamkpi stripe webhook` calls); exit code 0."""
    if not config.webhook_secret and not config.collector_token:
        from engine.cli import UsageError

        raise UsageError(f"nothing to serve: set {SECRET_ENV} and/or {TOKEN_ENV}")
    if not settings.bootstrap:
        from engine.cli import UsageError

        raise UsageError("stripe webhook needs --bootstrap HOST:PORT (or STREAMKPI_BOOTSTRAP)")
    asyncio.run(run(settings, config))
    return 0
