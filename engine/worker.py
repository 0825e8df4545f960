"""Start a worker process: broker (embedded or given), topics, input, Faust worker."""

from __future__ import annotations

import asyncio
import atexit
import errno
import gc
import logging
import socket
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import faust
import mode
from mode import Service

from engine.app import Runtime, create_app
from engine.broker import EmbeddedBroker, ensure_topics, wait_for_broker
from engine.ingest import count_lines, produce, read_lines
from engine.kafka import client_options
from engine.settings import Settings

log = logging.getLogger("streamkpi.worker")


@dataclass(frozen=True)
class SimOptions:
    """The simulated business of `run --simulate` and `simulate --live`."""

    customers: int = 200
    days: int = 60
    seed: int = 1
    speed: float = 1.0  # simulated seconds per real second once live (1: real time)
    incident: str | None = None
    incident_at: str | None = None


@dataclass(frozen=True)
class RunOptions:
    """What `streamkpi run` does besides running the engine (no argparse past the CLI)."""

    input: Path | None = None
    simulate: bool = False
    dashboard_every: float = 0.0
    sim: SimOptions = SimOptions()


class DashboardPrinter(Service):
    """The terminal dashboard (make demo): refreshed in place on a TTY, plain text otherwise."""

    def __init__(self, runtime: Runtime, every: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.runtime = runtime
        self.every = every

    async def on_start(self) -> None:
        self.add_future(self._show_forever())

    async def _show_forever(self) -> None:
        from engine.dashboard import Screen

        settings = self.runtime.settings
        with Screen(settings.currency, self.runtime.server.url) as screen:
            while not self.should_stop:
                screen.show(self.runtime.samples())
                await asyncio.sleep(self.every)


def check_metrics_port(settings: Settings) -> None:
    """Fail before anything starts when /metrics cannot listen (one line naming the port)."""
    if settings.metrics_port == 0:
        return
    where = f"{settings.metrics_bind}:{settings.metrics_port}"
    with socket.socket() as sock:
        try:
            sock.bind((settings.metrics_bind, settings.metrics_port))
        except OSError as exc:
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc})"
            raise OSError(
                f"metrics port {where} {why}: stop the other process or choose another "
                "--metrics-port (make demo PORT=...)"
            ) from None


async def _prepare(settings: Settings, options: RunOptions) -> None:
    client = client_options(settings)
    await wait_for_broker(client, timeout=settings.connect_timeout)
    await ensure_topics(settings, client)
    if options.input is not None:
        sent = await produce(settings, read_lines(options.input), count_lines(options.input))
        print(f"produced {sent} messages from {options.input}", file=sys.stderr, flush=True)


GC_THRESHOLDS = (50_000, 20, 50)


def tune_gc() -> None:
    """Collect garbage less often: Faust allocates a dozen short-lived containers per
    message, so the default gen-0 threshold (700) ran a collection every few
    messages (about 12 % of the subscription throughput in bench/). Startup
    objects are frozen out of every later full collection, and unfrozen at exit
    so that shutdown still frees them (datasketches' bindings report leaks
    otherwise)."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
    atexit.register(gc.unfreeze)


def run_worker(settings: Settings, options: RunOptions) -> int:
    broker = None
    if not settings.bootstrap:
        broker = EmbeddedBroker(settings.broker_port or None).start()
        settings = replace(settings, bootstrap=broker.bootstrap)
        print(f"embedded broker on {broker.bootstrap}", file=sys.stderr, flush=True)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_prepare(settings, options))
        app, runtime = create_app(settings, loop)
        tune_gc()
        services: list[Service] = [runtime]
        if options.simulate:
            from engine.simulation.live import LiveSimulation, live_config

            sim = options.sim
            config = live_config(
                sim.customers, sim.days, sim.seed, settings.currency, sim.incident, sim.incident_at
            )
            services.append(LiveSimulation(settings, config, speed=sim.speed, loop=loop))
        if options.dashboard_every:
            services.append(DashboardPrinter(runtime, options.dashboard_every, loop=loop))
        print(f"metrics at {runtime.server.url}", file=sys.stderr, flush=True)
        options = {"loop": loop, "loglevel": settings.log_level.upper(), **QUIET}
        return _execute(faust.Worker(app, *services, **options))
    finally:
        if broker is not None:
            broker.stop()


def run_simulation(settings: Settings, sim: SimOptions) -> int:
    """`simulate --live`: a pure producer of a live simulated business."""
    from engine.simulation.live import LiveSimulation, live_config

    if not settings.bootstrap:
        raise ValueError("simulate --live needs --bootstrap HOST:PORT")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    options = client_options(settings)
    loop.run_until_complete(wait_for_broker(options, timeout=settings.connect_timeout))
    loop.run_until_complete(ensure_topics(settings, options))
    config = live_config(
        sim.customers, sim.days, sim.seed, settings.currency, sim.incident, sim.incident_at
    )
    live = LiveSimulation(settings, config, speed=sim.speed, loop=loop)
    return _execute(mode.Worker(live, loop=loop, **QUIET))


QUIET = {"quiet": True, "redirect_stdouts": False, "override_logging": False}


def _execute(worker: mode.Worker) -> int:
    """Run a worker until a signal stops it; its exit code."""
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
