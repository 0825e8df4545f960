"""`streamkpi run` as a child process, and its /metrics read back as numbers.

One launcher and one Prometheus text parser for everything that drives
workers from outside: the integration tests (tests/integration/conftest.py)
and the benchmark (bench/harness.py). The tests' oracle keeps its own,
independent parser (tests/reference/exposition.py); keys here are written the
same way (`name{a="x",b="y"}`, labels sorted, values escaped as in the text
format) so the two can be compared.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from engine.broker import free_port, stop_process

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\S+)?")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def metric_key(name: str, labels: Mapping[str, str]) -> str:
    """`name{a="x",b="y"}` with labels sorted by name (values escaped), or `name`."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_metrics(text: str, prefix: str = "") -> dict[str, float]:
    """The samples of a Prometheus text page whose name starts with `prefix`, keyed by
    `metric_key` (`*_created` samples left out). A line that is not a sample is an error."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] == "#":
            continue
        match = _SAMPLE.fullmatch(line)
        if match is None:
            raise ValueError(f"not a Prometheus sample line: {line[:200]!r}")
        name, body, value = match.groups()
        if not name.startswith(prefix) or name.endswith("_created"):
            continue
        labels = {k: _unescape(v) for k, v in _LABEL.findall(body[1:-1])} if body else {}
        samples[metric_key(name, labels)] = float(value)
    return samples


def streamkpi_command() -> list[str]:
    """How to start the CLI of this environment."""
    script = Path(sys.executable).parent / "streamkpi"
    if script.exists():
        return [str(script)]
    found = shutil.which("streamkpi")
    return [found] if found else [sys.executable, "-m", "engine.cli"]


def _die_with_parent() -> None:
    """In the child: SIGTERM when the parent dies, even by SIGKILL (Linux only)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class WorkerProcess:
    """One `streamkpi run --bootstrap ...` child of a deployment (topic prefix + group),
    its output in `log`, /metrics on a free port. Short group timeouts (6 s session)."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        group: str,
        *args: str,
        log: Path,
        command: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        own_session: bool = False,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self.prefix = prefix
        self.log = log
        cmd = [
            *(command or [sys.executable, "-m", "engine.cli"]),
            "run",
            "--bootstrap",
            bootstrap,
            "--metrics-port",
            str(self.port),
            "--prefix",
            prefix,
            "--group",
            group,
            *args,
        ]
        environ = {
            **os.environ,
            "STREAMKPI_SESSION_TIMEOUT": "6",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environ,
                start_new_session=own_session,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def read(self, timeout: float = 5.0) -> str | None:
        """The /metrics page, or None while the worker does not answer."""
        try:
            with urllib.request.urlopen(self.url, timeout=timeout) as response:  # noqa: S310
                return str(response.read().decode())
        except OSError:
            return None

    def scrape(self, timeout: float = 5.0, prefix: str = "") -> dict[str, float] | None:
        """The samples (see `parse_metrics`), or None while the worker does not answer."""
        text = self.read(timeout)
        return None if text is None else parse_metrics(text, prefix)

    def exited(self) -> int | None:
        return self.process.poll()

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def rss_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) in KiB (Linux)."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount = line.split(":", 1)
                values[name] = int(amount.split()[0])
        return values.get("VmRSS", 0), values.get("VmHWM", 0)

    def stop(self, grace: float = 20.0) -> None:
        stop_process(self.process, grace)
