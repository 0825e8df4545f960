"""Stripe histories through the real embedded broker and a real worker (SPEC §6 "Done when").

`stripe convert` + `run --input`, and `stripe import` (twice: the second adds
nothing, thanks to the compacted stripe-state memory), must both end in the
hand-computed state of tests/stripe/scenario.py and in every sample the
reference computes from the converted history.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import reference
from tests.integration.conftest import broker, settle, workers  # noqa: F401 - fixtures
from tests.stripe import scenario

pytestmark = pytest.mark.integration


def streamkpi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=600
    )


def export(tmp_path: Path) -> tuple[Path, list[bytes]]:
    """The scenario as an Events API export, and its conversion (what the engine must see)."""
    source, history = tmp_path / "export.jsonl", tmp_path / "history.jsonl"
    source.write_bytes(scenario.export_pages(scenario.events()))
    done = streamkpi("stripe", "convert", str(source), "--out", str(history))
    assert done.returncode == 0, done.stderr
    return source, history.read_bytes().splitlines()


def check(expected: dict[str, float], actual: dict[str, float]) -> None:
    assert reference.diff(expected, actual) == []
    assert {k: actual.get(k) for k in scenario.EXPECTED} == scenario.EXPECTED


def test_convert_then_run_input(workers, tmp_path: Path) -> None:  # noqa: F811
    _, lines = export(tmp_path)
    expected = reference.compute(lines, prefix=workers.prefix)
    worker = workers("--input", str(tmp_path / "history.jsonl"))
    check(expected, settle(worker, expected))


def test_import_twice_counts_once(workers, broker, tmp_path: Path) -> None:  # noqa: F811
    source, lines = export(tmp_path)
    expected = reference.compute(lines, prefix=workers.prefix)
    worker = workers()
    target = ["--bootstrap", broker.bootstrap, "--prefix", workers.prefix]
    first = streamkpi("stripe", "import", str(source), *target)
    assert first.returncode == 0, first.stderr
    assert f"-> {len(lines)} events" in first.stderr
    again = streamkpi("stripe", "import", str(source), *target)
    assert again.returncode == 0, again.stderr
    assert "-> 0 events" in again.stderr and "applied 0," in again.stderr
    check(expected, settle(worker, expected))
