"""A real Alertmanager and a stand-in pager for integration tests.

`Alertmanager` starts Debian's binary (``/usr/bin/prometheus-alertmanager``,
package `prometheus-alertmanager`, or ``$ALERTMANAGER_BIN``) on a free
loopback port with a temporary storage directory, clustering off. `Receiver`
is the pager: an HTTP server on a free loopback port that records every
webhook notification Alertmanager posts to it (one path per receiver name) and
serves the files it is given, so that a runbook link in a notification can be
opened. `fast_config` turns the shipped alertmanager.yml into the copy a test
runs: every receiver delivers to the stand-in, and the waits are cut to
seconds; routes, matchers, grouping and inhibition stay as shipped.

    with Receiver() as pager, Alertmanager(fast_config(shipped, pager.url)) as am:
        ... Prometheus(..., alertmanager=am.address) ...
        pager.wait_for("business", "CustomerChurnSpike")

A missing binary is an error, never a skip.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.integration.prometheus import TempServer, free_port

DEFAULT_BINARY = "/usr/bin/prometheus-alertmanager"
# The waits of the shipped routes, cut so that a test sees notifications in seconds.
FAST = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}


class AlertmanagerError(RuntimeError):
    """Alertmanager could not be started, or a notification did not arrive."""


def find_binary() -> str:
    """Return the Alertmanager binary, or raise with how to install it."""
    candidate = (
        os.environ.get("ALERTMANAGER_BIN")
        or shutil.which("alertmanager")
        or shutil.which("prometheus-alertmanager")
        or DEFAULT_BINARY
    )
    if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
        raise AlertmanagerError(
            "Alertmanager binary not found (looked at $ALERTMANAGER_BIN, PATH and "
            f"{DEFAULT_BINARY}); install it with `apt-get install prometheus-alertmanager`"
        )
    return candidate


def fast_config(shipped: dict[str, Any], receiver_url: str) -> dict[str, Any]:
    """The shipped configuration with every receiver posting to `receiver_url/<name>`
    (replacing whatever integration it has) and the route waits of FAST."""
    config = copy.deepcopy(shipped)

    def shorten(route: dict[str, Any]) -> None:
        for key, value in FAST.items():
            if key in route:
                route[key] = value
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    for receiver in config["receivers"]:
        for key in [k for k in receiver if k.endswith("_configs")]:
            del receiver[key]
        receiver["webhook_configs"] = [
            {"url": f"{receiver_url}/{receiver['name']}", "send_resolved": True}
        ]
    return config


class Alertmanager(TempServer):
    name = "Alertmanager"
    error = AlertmanagerError
    """One Alertmanager process; started on construction, stop() to end it."""

    def __init__(self, config: dict[str, Any], startup_timeout: float = 30.0) -> None:
        self.binary = find_binary()
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self._dir = Path(tempfile.mkdtemp(prefix="streamkpi-alertmanager-"))
        self.config_path = self._dir / "alertmanager.yml"
        self.config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self.log_path = self._dir / "alertmanager.log"
        command = [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self._dir / 'data'}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",  # no gossip port: a single instance
            "--log.level=warn",
        ]
        self._process = None
        self._launch(command, startup_timeout)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert Alertmanager holds (active, silenced and inhibited), API v2."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as response:
            return list(json.load(response))


class Receiver:
    """The stand-in pager: records POSTed notifications, serves GET of `files`."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files = dict(files or {})
        self._lock = threading.Lock()
        self._received: list[tuple[str, dict[str, Any]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver._received.append((self.path.strip("/"), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                content = receiver.files.get(self.path.split("?")[0])
                self.send_response(200 if content is not None else 404)
                self.send_header("Content-Type", "text/markdown; charset=utf-8")
                self.end_headers()
                self.wfile.write(content or b"not found")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        return Handler

    def notifications(self, receiver: str | None = None) -> list[dict[str, Any]]:
        """Webhook payloads received so far (for one receiver name, or all), oldest first."""
        with self._lock:
            return [copy.deepcopy(n) for path, n in self._received if receiver in (None, path)]

    def alerts(self, receiver: str | None = None, **labels: str) -> list[dict[str, Any]]:
        """Alerts of the received notifications whose labels include `labels`."""
        return [
            alert
            for note in self.notifications(receiver)
            for alert in note["alerts"]
            if all(alert["labels"].get(k) == v for k, v in labels.items())
        ]

    def wait_for(
        self,
        receiver: str,
        patience: float,
        context: Callable[[], str] = lambda: "",
        **labels: str,
    ) -> dict[str, Any]:
        """The first firing alert with `labels` delivered to `receiver`; fail after `patience` s."""
        deadline = time.monotonic() + patience
        while True:
            firing = [a for a in self.alerts(receiver, **labels) if a["status"] == "firing"]
            if firing:
                return firing[0]
            if time.monotonic() > deadline:
                got = [(n["receiver"], n["groupLabels"]) for n in self.notifications()]
                raise AlertmanagerError(
                    f"no firing {labels} reached receiver {receiver!r} within {patience:.0f}s; "
                    f"received: {got}\n{context()}"
                )
            time.sleep(0.5)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
