"""Kafka client options from settings: bootstrap, security (SSL/SASL), Faust tuning."""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
from typing import Any

from engine.settings import Settings


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if "SSL" not in settings.security_protocol:
        return None
    return ssl.create_default_context(cafile=settings.ssl_cafile)


def client_options(settings: Settings) -> dict[str, Any]:
    """Options shared by every aiokafka client of the engine."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap,
        "security_protocol": settings.security_protocol,
    }
    context = _ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.sasl_mechanism:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password
    return options


def _scratch_dir() -> str:
    """Faust wants a data directory even without tables; removed again at exit."""
    path = tempfile.mkdtemp(prefix="streamkpi-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def faust_options(settings: Settings) -> dict[str, Any]:
    """Faust settings: raw bytes, no tables, short group timeouts, frequent commits."""
    scheme = "kafka" if "SSL" not in settings.security_protocol else "kafka+ssl"
    options: dict[str, Any] = {
        "broker": f"{scheme}://{settings.bootstrap}",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "web_enabled": False,
        "datadir": _scratch_dir(),
        "topic_partitions": settings.partitions,
        "topic_allow_declare": False,
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": settings.session_timeout,
        "broker_heartbeat_interval": max(0.5, settings.session_timeout / 10),
        "broker_rebalance_timeout": settings.session_timeout,
        "broker_commit_interval": settings.commit_interval,
        "producer_linger_ms": 5,
        "stream_wait_empty": False,
    }
    if settings.sasl_mechanism:
        import faust

        options["broker_credentials"] = faust.SASLCredentials(
            username=settings.sasl_username or "",
            password=settings.sasl_password or "",
            mechanism=settings.sasl_mechanism,
            ssl_context=_ssl_context(settings),
        )
    elif "SSL" in settings.security_protocol:
        options["broker_credentials"] = _ssl_context(settings)
    return options


FETCH_MAX_WAIT_MS = 50


def tune_faust_fetch(wait_ms: int = FETCH_MAX_WAIT_MS) -> None:
    """Cap how long a fetch may wait on the broker (Faust hard-codes 1500 ms).

    Tansu holds a waiting fetch for the whole wait even when data arrives, so
    with 1500 ms every quiet partition adds up to 1.5 s of latency and workers
    idle under backlog (bench/). Idempotent; patches Faust's consumer factory.
    """
    from faust.transport.drivers import aiokafka as driver

    thread = driver.AIOKafkaConsumerThread
    if getattr(thread, "_streamkpi_fetch_wait", None) == wait_ms:
        return
    create = getattr(thread, "_streamkpi_original_create", thread._create_worker_consumer)

    def create_worker_consumer(self: Any, *args: Any, **kwargs: Any) -> Any:
        consumer = create(self, *args, **kwargs)
        consumer._fetch_max_wait_ms = wait_ms
        return consumer

    thread._streamkpi_original_create = create  # type: ignore[attr-defined]
    thread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]
    thread._streamkpi_fetch_wait = wait_ms  # type: ignore[attr-defined]
