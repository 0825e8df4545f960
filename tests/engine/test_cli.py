"""The command line: exit codes, one-line errors, env-backed flags (SPEC §5)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from engine import settings as settings_mod
from engine.cli import main


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate"],
        ["simulate", "--out", "x", "--days", "0"],
        ["ingest", "nope.jsonl"],
        ["run", "--input", "/no/such/file"],
        ["frobnicate"],
        ["run", "--metrics-port", "abc"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        sys.exit(main(argv))
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip()


def test_failure_is_one_line_and_exit_1() -> None:
    result = run_cli("snapshot", "--url", "http://127.0.0.1:9/metrics")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("streamkpi: error:")


def test_simulate_writes_a_reproducible_history(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path in (a, b):
        assert (
            main(["simulate", "--out", str(path), "--customers", "5", "--days", "3", "--seed", "9"])
            == 0
        )
    assert a.read_bytes() == b.read_bytes()
    first = orjson.loads(a.read_bytes().splitlines()[0])
    assert "event_id" in (first[0] if isinstance(first, list) else first)


def test_flags_read_streamkpi_env(tmp_path: Path) -> None:
    out = tmp_path / "env.jsonl"
    env = {"STREAMKPI_OUT": str(out), "STREAMKPI_CUSTOMERS": "3", "STREAMKPI_DAYS": "2", "PATH": ""}
    result = run_cli("simulate", env=env)
    assert result.returncode == 0, result.stderr
    assert out.exists()


def test_settings_precedence_and_secret_not_shown() -> None:
    env = {
        "STREAMKPI_PARTITIONS": "8",
        "STREAMKPI_CURRENCY": "EUR",
        "STREAMKPI_SASL_PASSWORD": "hunter2",
    }
    settings = settings_mod.load({"currency": "GBP"}, environ=env)
    assert (settings.partitions, settings.currency) == (8, "GBP")
    assert "hunter2" not in repr(settings)
    assert settings.metrics_bind == "127.0.0.1"


def test_unreachable_broker_retries_then_one_clear_line(tmp_path: Path) -> None:
    env = {"STREAMKPI_CONNECT_TIMEOUT": "2", "PATH": ""}
    result = run_cli("run", "--bootstrap", "127.0.0.1:9", "--metrics-port", "0", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("streamkpi: error: cannot reach Kafka")
    assert "Traceback" not in result.stderr
