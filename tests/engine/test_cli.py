"""The command line: exit codes, one-line errors, env-backed flags (SPEC §5)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine import settings as settings_mod
from engine.broker import EmbeddedBroker, ensure_topics, free_port, port_in_use
from engine.cli import build_parser, main, settings_from
from engine.settings import Settings


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
    # said before the wait, and nothing else: aiokafka's per-attempt errors are muted
    assert result.stderr.strip().splitlines()[:-1] == ["waiting up to 2 s for Kafka at 127.0.0.1:9"]


# -- issue 16: one line per error, naming what it is about, with the right exit code -----


def _one_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and "Traceback" not in result.stderr, result.stderr
    last = lines[-1]
    prefix = "streamkpi: usage error:" if code == 2 else "streamkpi: error:"
    assert last.startswith(prefix), result.stderr
    for word in words:
        assert word in last, last
    return last


@pytest.mark.parametrize(
    ("argv", "var", "raw"),
    [
        (["run"], "STREAMKPI_METRICS_PORT", "eighty"),
        (["run"], "STREAMKPI_SIMULATE", "maybe"),
        (["run"], "STREAMKPI_PARTITIONS", "0"),
        (["run"], "STREAMKPI_LOG_LEVEL", "loud"),
        (["ingest", "x.jsonl"], "STREAMKPI_CONNECT_TIMEOUT", "soon"),
        (["simulate", "--out", "x.jsonl"], "STREAMKPI_CUSTOMERS", "many"),
        (["snapshot"], "STREAMKPI_JSON", "please"),
        (["rejected"], "STREAMKPI_LIMIT", "ten"),
    ],
)
def test_bad_streamkpi_value_is_a_usage_error_for_every_command(
    argv: list[str], var: str, raw: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", *argv],
        capture_output=True,
        text=True,
        env={"PATH": "", var: raw},
        cwd=tmp_path,
        timeout=120,
    )
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    _one_line(result, 2, var)


def test_a_bad_variable_of_another_command_does_not_matter(tmp_path: Path) -> None:
    env = {"STREAMKPI_METRICS_PORT": "eighty", "PATH": ""}
    result = run_cli("simulate", "--out", str(tmp_path / "h.jsonl"), "--days", "1", env=env)
    assert result.returncode == 0, result.stderr


def test_a_flag_wins_over_a_bad_variable() -> None:
    args = build_parser({"STREAMKPI_METRICS_PORT": "eighty"}).parse_args(
        ["run", "--metrics-port", "9100"]
    )
    assert settings_from(args, environ={}).metrics_port == 9100


def test_settings_parsed_once_into_frozen_settings_and_options() -> None:
    env = {"STREAMKPI_SESSION_TIMEOUT": "6", "STREAMKPI_SASL_PASSWORD": "s3cret"}
    args = build_parser(env).parse_args(["run", "--partitions", "3", "--simulate"])
    settings = settings_from(args, environ=env)
    assert (settings.session_timeout, settings.partitions, settings.metrics_port) == (6.0, 3, 8000)
    assert settings.sasl_password == "s3cret" and "s3cret" not in repr(settings)
    with pytest.raises(FrozenInstanceError):
        settings.partitions = 9  # type: ignore[misc]
    assert args.simulate is True


def test_help_shows_defaults_and_every_variable() -> None:
    text = run_cli("run", "--help").stdout
    flat = " ".join(text.split())
    for name in Settings.__dataclass_fields__:
        assert settings_mod.env_name(name) in flat, name
    for shown in (
        "default 8000; env STREAMKPI_METRICS_PORT",
        "default saas.; env STREAMKPI_PREFIX",
    ):
        assert shown in flat
    assert "STREAMKPI_SSL_CAFILE" in flat and "STREAMKPI_SASL_MECHANISM" in flat
    for command in ("ingest", "simulate", "snapshot", "rejected"):
        assert "env STREAMKPI_" in run_cli(command, "--help").stdout


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("streamkpi ")


@pytest.mark.parametrize(
    "argv",
    [["ingest", "x.jsonl"], ["simulate", "--live"], ["rejected"]],
)
def test_missing_bootstrap_is_the_same_usage_error_everywhere(argv: list[str]) -> None:
    _one_line(run_cli(*argv, env={"PATH": ""}), 2, "--bootstrap")


def test_busy_metrics_port_is_one_line_naming_the_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {"STREAMKPI_CONNECT_TIMEOUT": "1", "PATH": ""}
        result = run_cli("run", "--bootstrap", "127.0.0.1:9", "--metrics-port", str(port), env=env)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    _one_line(result, 1, f"127.0.0.1:{port}", "in use")
    assert "metrics at" not in result.stderr


def test_busy_broker_port_is_one_line_naming_the_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("run", "--broker-port", str(port), "--metrics-port", "0")
    _one_line(result, 1, f"127.0.0.1:{port}", "in use")


def test_snapshot_error_names_the_url() -> None:
    _one_line(run_cli("snapshot", "--url", "http://127.0.0.1:9/metrics"), 1, "127.0.0.1:9/metrics")


def test_targets_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "targets.toml"
    path.write_text("[targets\ncac = 1\n")
    _one_line(run_cli("run", "--targets", str(path)), 2, str(path), "TOML syntax error")


def test_unknown_target_kpi_is_rejected_with_the_valid_names(tmp_path: Path) -> None:
    path = tmp_path / "targets.toml"
    path.write_text("[targets]\ncacc = 1500\n")
    line = _one_line(run_cli("run", "--targets", str(path)), 2, str(path), "cacc")
    assert "valid: " in line and "cac," in line and "runway_months" in line


def test_make_demo_port_chooses_the_metrics_port() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        ["make", "-n", "-C", str(root), "demo", "PORT=9321"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "--metrics-port 9321" in done.stdout
    assert "127.0.0.1:9321" in done.stdout


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkilled_worker_leaves_no_embedded_broker(tmp_path: Path) -> None:
    """Measured before the fix: Tansu kept running with parent PID 1."""
    port = free_port()
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "run", "--broker-port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "STREAMKPI_METRICS_PORT": "0"},
    )
    try:
        broker = _wait_for(lambda: _children(worker.pid), "the embedded broker to start")
        _wait_for(lambda: port_in_use(port), f"the broker to listen on {port}")
    finally:
        worker.kill()
        worker.wait()
    _wait_for(lambda: not Path(f"/proc/{broker[0]}").exists(), "the orphaned broker to exit")
    _wait_for(lambda: not port_in_use(port), f"port {port} to be free again")


def _wait_for(check: Any, what: str, patience: float = 120.0) -> Any:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.integration
def test_rejected_prints_the_latest_dead_letters(tmp_path: Path) -> None:
    from aiokafka import AIOKafkaProducer

    from events.codec import dead_letter
    from events.types import Rejection

    with EmbeddedBroker() as broker:

        async def write() -> None:
            settings = Settings(bootstrap=broker.bootstrap, prefix="x.")
            await ensure_topics(settings, {"bootstrap_servers": broker.bootstrap})
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
            await producer.start()
            try:
                for n in range(5):
                    raw = f'{{"event_id": "e{n}", "type": "visit"}}'.encode()
                    letter = dead_letter(Rejection("missing_field", "visitor_id", raw), "x.usage")
                    await producer.send_and_wait("x.rejected", letter)
            finally:
                await producer.stop()

        asyncio.run(write())
        args = ("rejected", "--bootstrap", broker.bootstrap, "--prefix", "x.", "--limit", "3")
        result = run_cli(*args)
        as_json = run_cli(*args, "--json")
        empty = run_cli("rejected", "--bootstrap", broker.bootstrap, "--prefix", "none.")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    assert all("missing_field (visitor_id)  x.usage" in line for line in lines)
    assert '"event_id": "e4"' in lines[-1] and '"e1"' not in result.stdout
    letters = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    assert [letter["reason"] for letter in letters] == ["missing_field"] * 3
    _one_line(empty, 1, "none.rejected")


PAGE = b"""# HELP saas_mrr Monthly recurring revenue
# TYPE saas_mrr gauge
saas_mrr 32799.0
# TYPE saas_nrr gauge
saas_nrr{window="30d"} 0.95
# TYPE saas_kpi_target gauge
saas_kpi_target{kpi="nrr"} 1.0
"""


def test_snapshot_prints_the_dashboard_and_json_unchanged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        assert main(["snapshot", "--url", url, "--currency", "EUR"]) == 0
        text = capsys.readouterr().out
        assert main(["snapshot", "--url", url, "--json"]) == 0
        as_json = orjson.loads(capsys.readouterr().out)
    finally:
        server.shutdown()
    assert "€32,799" in text and "NRR" in text and "95.0 %" in text and "NrrBelowTarget" in text
    assert {"metric": "saas_nrr", "labels": {"window": "30d"}, "value": 0.95} in as_json
