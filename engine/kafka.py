"""Kafka client options from settings: bootstrap, security (SSL/SASL), Faust tuning."""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
from typing import Any

from engine.settings import Settings
from engine.undecodable import guard_batches


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
    """Faust settings: raw bytes, no tables, short group timeouts, frequent commits.

    Also guards aiokafka's batch decoding for every consumer of the process (the
    worker's and its global reader's): an undecodable batch becomes placeholder
    records instead of an exception that kills the worker (engine/undecodable.py).
    """
    guard_batches()
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
        # Faust pauses fetching a partition at 80 % of its stream buffer but still
        # delivers what it already fetched (up to 1 MB per partition); past 100 %
        # every message takes a slow path (a put task and Faust's four-task race).
        # With Faust's 4096, 15 % of single-event messages took it and cost 40 %
        # of the throughput (docs/performance.md). The price is memory: at most
        # this many messages per input topic wait in the worker.
        "stream_buffer_maxsize": settings.stream_buffer,
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
