"""promtool accepts the shipped Prometheus configuration and alert rules, and
the rules pass their unit tests (prometheus/alerts_test.yml: a firing and a
not-firing case for every alert); amtool accepts the shipped Alertmanager
configuration.

promtool is Debian's (/usr/bin/promtool, package `prometheus`), amtool comes
with `prometheus-alertmanager`; a missing binary fails the tests, it does not
skip them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.alertmanager import FAST, fast_config

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
ALERTMANAGER = PROMETHEUS_DIR / "alertmanager.yml"
# Where docker-compose.yml mounts prometheus/ files inside the Prometheus container.
CONTAINER_DIR = "/etc/prometheus/"

pytestmark = pytest.mark.integration


def promtool() -> str:
    path = os.environ.get("PROMTOOL_BIN") or shutil.which("promtool") or "/usr/bin/promtool"
    if not os.access(path, os.X_OK):
        pytest.fail("promtool not found: install it with `apt-get install prometheus`")
    return path


def amtool() -> str:
    path = os.environ.get("AMTOOL_BIN") or shutil.which("amtool") or "/usr/bin/amtool"
    if not os.access(path, os.X_OK):
        pytest.fail("amtool not found: install it with `apt-get install prometheus-alertmanager`")
    return path


def run_promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def test_check_config(tmp_path: Path) -> None:
    """The compose prometheus.yml is valid, with its rule files resolved to the repo's."""
    text = CONFIG.read_text()
    assert CONTAINER_DIR + ALERTS.name in text, "prometheus.yml must load the shipped alerts.yml"
    local = tmp_path / "prometheus.yml"
    local.write_text(text.replace(CONTAINER_DIR, f"{PROMETHEUS_DIR}/"))
    result = run_promtool("check", "config", str(local))
    assert_ok(result)
    # `check config` also checks every rule file it loads: make sure it found ours.
    assert str(ALERTS) in result.stdout + result.stderr


def test_check_rules() -> None:
    assert_ok(run_promtool("check", "rules", str(ALERTS)))


def test_rules_unit_tests() -> None:
    assert_ok(run_promtool("test", "rules", ALERTS_TEST.name, cwd=PROMETHEUS_DIR))


def test_alertmanager_config_checks() -> None:
    """`amtool check-config` on the shipped alertmanager.yml (also run by `make test`)."""
    result = subprocess.run(
        [amtool(), "check-config", str(ALERTMANAGER)], capture_output=True, text=True, timeout=60
    )
    assert_ok(result)
    assert "SUCCESS" in result.stdout, result.stdout


def test_alertmanager_test_copy_keeps_routing_and_inhibition(tmp_path: Path) -> None:
    """The e2e test's copy (tests/integration/alertmanager.py) differs from the shipped
    file only in the route waits and the receivers' webhook, and amtool accepts it."""
    shipped = yaml.safe_load(ALERTMANAGER.read_text())
    copy = fast_config(shipped, "http://127.0.0.1:9")

    def strip(route: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in route.items() if k not in FAST and k != "routes"}
        return {**kept, "routes": [strip(r) for r in route.get("routes", [])]}

    assert strip(copy["route"]) == strip(shipped["route"])
    assert copy["inhibit_rules"] == shipped["inhibit_rules"]
    assert [r["name"] for r in copy["receivers"]] == [r["name"] for r in shipped["receivers"]]
    for receiver in copy["receivers"]:
        assert receiver["webhook_configs"][0]["url"] == f"http://127.0.0.1:9/{receiver['name']}"
    path = tmp_path / "alertmanager.yml"
    path.write_text(json.dumps(copy))
    result = subprocess.run(
        [amtool(), "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert_ok(result)


def alert_names() -> set[str]:
    return {
        line.split(":", 1)[1].strip()
        for line in ALERTS.read_text().splitlines()
        if line.strip().startswith("- alert:")
    }


def unit_test_cases() -> dict[str, set[str]]:
    """alertname -> {"firing", "silent"}: the kinds of case alerts_test.yml has for it.

    A case is an `alertname:` line; the next `exp_alerts:` line is `[]` for a
    not-firing case and opens a list of expected alerts otherwise.
    """
    cases: dict[str, set[str]] = {}
    name = None
    for line in ALERTS_TEST.read_text().splitlines():
        key, _, value = line.strip().partition(":")
        if key == "alertname":
            name = value.strip()
        elif key == "exp_alerts" and name is not None:
            kind = "silent" if value.split("#")[0].strip() == "[]" else "firing"
            cases.setdefault(name, set()).add(kind)
            name = None
    return cases


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    """promtool does not check coverage: every alert of alerts.yml must have both cases."""
    alerts, cases = alert_names(), unit_test_cases()
    assert len(alerts) >= 10, f"expected the full alert set, found {sorted(alerts)}"
    assert set(cases) - alerts == set(), f"tests of unknown alerts: {sorted(set(cases) - alerts)}"
    incomplete = {
        a: sorted(cases.get(a, set())) for a in alerts if cases.get(a) != {"firing", "silent"}
    }
    assert incomplete == {}, f"alerts without a firing and a not-firing case: {incomplete}"
