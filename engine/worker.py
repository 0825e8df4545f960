"""Start a worker process: broker (embedded or given), topics, input, Faust worker."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import gc
import logging
import sys
from dataclasses import replace

import faust
import mode
from mode import Service

from engine.app import Runtime, create_app
from engine.broker import EmbeddedBroker, ensure_topics, wait_for_broker
from engine.ingest import count_lines, produce, read_lines
from engine.kafka import client_options
from engine.settings import Settings
from engine.snapshot import format_table

log = logging.getLogger("streamkpi.worker")


class TablePrinter(Service):
    """Prints the KPI table every `every` seconds (make demo)."""

    def __init__(self, runtime: Runtime, every: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.runtime = runtime
        self.every = every

    async def on_start(self) -> None:
        self.add_future(self._print_forever())

    async def _print_forever(self) -> None:
        while not self.should_stop:
            await asyncio.sleep(self.every)
            print(
                f"\n{self.runtime.server.url}\n{format_table(self.runtime.samples())}", flush=True
            )


async def _prepare(settings: Settings, args: argparse.Namespace) -> None:
    options = client_options(settings)
    await wait_for_broker(options, timeout=settings.connect_timeout)
    await ensure_topics(settings, options)
    if args.input is not None:
        sent = await produce(settings, read_lines(args.input), count_lines(args.input))
        print(f"produced {sent} messages from {args.input}", file=sys.stderr, flush=True)


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


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    broker = None
    if not settings.bootstrap:
        broker = EmbeddedBroker().start()
        settings = replace(settings, bootstrap=broker.bootstrap)
        print(f"embedded broker on {broker.bootstrap}", file=sys.stderr, flush=True)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_prepare(settings, args))
        app, runtime = create_app(settings, loop)
        tune_gc()
        services: list[Service] = [runtime]
        if args.simulate:
            from engine.simulation.live import LiveSimulation, live_config

            config = live_config(args.customers, args.days, args.seed, settings.currency)
            services.append(LiveSimulation(settings, config, loop=loop))
        if args.table_every:
            services.append(TablePrinter(runtime, args.table_every, loop=loop))
        print(f"metrics at {runtime.server.url}", file=sys.stderr, flush=True)
        options = {"loop": loop, "loglevel": settings.log_level.upper(), **QUIET}
        return _execute(faust.Worker(app, *services, **options))
    finally:
        if broker is not None:
            broker.stop()


def run_simulation(settings: Settings, args: argparse.Namespace) -> int:
    """`simulate --live`: a pure producer of a live simulated business."""
    from engine.simulation.live import LiveSimulation, live_config

    if not settings.bootstrap:
        raise ValueError("simulate --live needs --bootstrap HOST:PORT")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    options = client_options(settings)
    loop.run_until_complete(wait_for_broker(options, timeout=settings.connect_timeout))
    loop.run_until_complete(ensure_topics(settings, options))
    config = live_config(args.customers, args.days, args.seed, settings.currency)
    return _execute(mode.Worker(LiveSimulation(settings, config, loop=loop), loop=loop, **QUIET))


QUIET = {"quiet": True, "redirect_stdouts": False, "override_logging": False}


def _execute(worker: mode.Worker) -> int:
    """Run a worker until a signal stops it; its exit code."""
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
