"""Worker process tuning: fewer collections, and a clean exit (no binding leak reports)."""

from __future__ import annotations

import dataclasses
import gc
import socket
import subprocess
import sys

import pytest

from engine.settings import Settings
from engine.worker import RunOptions, SimOptions, check_metrics_port

HOLD_A_SKETCH_IN_A_CYCLE = """
import datasketches
from engine.worker import tune_gc
class Holder: pass
holder = Holder(); holder.me = holder; holder.sketch = datasketches.hll_sketch(12)
tune_gc()
"""


def test_frozen_objects_are_freed_at_exit() -> None:
    """gc.freeze() alone makes datasketches' bindings print hundreds of 'leaked' lines
    when a worker stops (a sketch in a reference cycle is never collected)."""
    done = subprocess.run(
        [sys.executable, "-c", HOLD_A_SKETCH_IN_A_CYCLE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "leaked" not in done.stderr


def test_tune_gc_raises_the_young_generation_threshold() -> None:
    from engine.worker import GC_THRESHOLDS, tune_gc

    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_busy_metrics_port_fails_before_anything_starts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port} is in use"):
            check_metrics_port(Settings(metrics_port=port))
    check_metrics_port(Settings(metrics_port=0))  # any free port: nothing to check


def test_run_options_are_frozen_and_carry_no_argparse() -> None:
    options = RunOptions(simulate=True, sim=SimOptions(customers=5))
    assert dataclasses.is_dataclass(options) and options.sim.customers == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.simulate = False  # type: ignore[misc]
