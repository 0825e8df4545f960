"""A real Prometheus server for integration tests.

Starts the Prometheus binary (Debian's ``/usr/bin/prometheus``, or
``$PROMETHEUS_BIN``) on a free loopback port with a temporary data directory
and a generated configuration that scrapes the given targets every second and
evaluates the given rule files every second. The tests then ask it what it
saw through the HTTP API, exactly as Grafana and Alertmanager would.

    with Prometheus(targets=["127.0.0.1:8000"], rule_files=[ALERTS]) as prom:
        prom.wait_for('up{job="streamkpi"} == 1')
        mrr = prom.query('max without (instance, pod) (saas_mrr)')

A missing binary is an error, never a skip: these tests exist to prove the
rules and dashboards against the real thing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from engine.broker import stop_process

DEFAULT_BINARY = "/usr/bin/prometheus"


class PrometheusError(RuntimeError):
    """Prometheus could not be started, or answered a query with an error."""


def find_binary() -> str:
    """Return the Prometheus binary, or raise with how to install it."""
    candidate = os.environ.get("PROMETHEUS_BIN") or shutil.which("prometheus") or DEFAULT_BINARY
    if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
        raise PrometheusError(
            f"Prometheus binary not found (looked at $PROMETHEUS_BIN, PATH and {DEFAULT_BINARY}); "
            "install it with `apt-get install prometheus` or point PROMETHEUS_BIN at one"
        )
    return candidate


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(
    targets: Sequence[str],
    rule_files: Sequence[Path],
    job: str,
    self_target: str | None,
    alertmanager: str | None = None,
    external_labels: dict[str, str] | None = None,
    scrape_interval: str = "1s",
) -> dict[str, Any]:
    """The Prometheus configuration as a dict (written as JSON, which is YAML)."""
    scrape_configs: list[dict[str, Any]] = []
    if targets:
        scrape_configs.append({"job_name": job, "static_configs": [{"targets": list(targets)}]})
    if self_target:
        scrape_configs.append(
            {"job_name": "prometheus", "static_configs": [{"targets": [self_target]}]}
        )
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": "1s",
        },
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": scrape_configs,
    }
    if external_labels:
        config["global"]["external_labels"] = dict(external_labels)
    if alertmanager:
        config["alerting"] = {
            "alertmanagers": [
                {"api_version": "v2", "static_configs": [{"targets": [alertmanager]}]}
            ]
        }
    return config


class TempServer:
    """A server process of the test's own, with a temp directory and a log file:
    stopped (terminate, then kill) and its directory removed on `stop` or exit."""

    _process: subprocess.Popen[bytes] | None
    _dir: Path
    log_path: Path
    url: str
    name = "server"
    error: type[Exception] = RuntimeError

    def _launch(self, command: list[str], timeout: float) -> None:
        """Start `command` logging to `log_path`; wait for `/-/ready` or fail with the log."""
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise self.error(f"{self.name} exited during startup:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise self.error(f"{self.name} not ready after {timeout:.0f}s:\n{self.log()}")

    def stop(self) -> None:
        """End the process and delete its directory. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, 15)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log(self) -> str:
        """The server's own log output so far (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return "(no log)"


class Prometheus(TempServer):
    name = "Prometheus"
    error = PrometheusError
    """One Prometheus process; start() on construction, stop() to end it."""

    def __init__(
        self,
        targets: Iterable[str] = (),
        rule_files: Iterable[str | Path] = (),
        *,
        job: str = "streamkpi",
        scrape_self: bool = False,
        alertmanager: str | None = None,
        external_labels: dict[str, str] | None = None,
        scrape_interval: str = "1s",
        startup_timeout: float = 30.0,
    ) -> None:
        """alertmanager: "host:port" to send alerts to; external_labels: as in
        prometheus.yml; scrape_interval: also the scrape timeout."""
        self.binary = find_binary()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="streamkpi-prometheus-"))
        self.config_path = self._dir / "prometheus.yml"
        self.log_path = self._dir / "prometheus.log"
        config = render_config(
            list(targets),
            [Path(p) for p in rule_files],
            job,
            f"127.0.0.1:{self.port}" if scrape_self else None,
            alertmanager,
            external_labels,
            scrape_interval,
        )
        self.config_path.write_text(json.dumps(config, indent=2))
        self._process: subprocess.Popen[bytes] | None = None
        self._start(startup_timeout)

    # -- lifecycle -------------------------------------------------------------

    def _start(self, timeout: float) -> None:
        command = [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self._dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        self._launch(command, timeout)

    # -- HTTP API --------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path> and return its `data`, raising on an error status."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as err:
            body = json.loads(err.read() or b"{}")
            raise PrometheusError(f"{path} {params}: {body.get('error', err)}") from err
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; the result as a list ([] when empty).

        Vector results are lists of {"metric": {...}, "value": [ts, "v"]}; a
        scalar or string result is returned as a one-element list holding its
        [ts, "v"] pair.
        """
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        result = data["result"]
        if data["resultType"] in ("scalar", "string"):
            return [result]
        return list(result)

    def value(self, expr: str) -> float | None:
        """The single value of an instant query, None when it has no sample."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"{expr!r} returned {len(result)} series, expected one")
        sample = result[0]["value"] if isinstance(result[0], dict) else result[0]
        return float(sample[1])

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending and firing) alerts, as /api/v1/alerts reports them."""
        return list(self.api("alerts")["alerts"])

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule (flattened over groups), as /api/v1/rules reports them."""
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets, as /api/v1/targets reports them."""
        return list(self.api("targets")["activeTargets"])

    def wait_for(self, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll `expr` until it returns at least one sample; return that result."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                raise PrometheusError(f"{expr!r} returned nothing within {timeout:.0f}s")
            time.sleep(0.25)
