"""End to end with real parts: broker -> `streamkpi run` -> a real Prometheus -> panels and alerts.

- every PromQL query of every Grafana panel returns at least one series from a
  Prometheus that scrapes a worker which has read a simulated history;
- a churn spike fed through Kafka (cancellations of most paying customers on the
  history's last day) drives the shipped CustomerChurnSpike rule to "firing".
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests import reference
from tests.integration.conftest import Worker, settle
from tests.integration.prometheus import Prometheus
from tests.integration.test_dashboards import ALERTS, panel_queries
from tests.integration.test_pipeline import history

# history() defaults (40 customers, 45 days) produce a sample for every panel metric.
# The churn scenario uses 50 customers over 40 days instead: its 30-day customer churn
# rate is 0.0 before the spike (the default history's is already 0.17, above target),
# so the alert can only come from the spike. Zero churn leaves quick ratio and LTV
# undefined, which is why the panel test does not use this history.
SPIKE_HISTORY = {"customers": 50, "days": 40}
CHURN = 'saas_customer_churn_rate{window="30d"}'
CHURN_TARGET = 0.05  # engine/targets.default.toml
ALERT = "CustomerChurnSpike"

# (dashboard, panel) -> why this history legitimately gives that query no series.
NO_DATA_EXPECTED: dict[tuple[str, str], str] = {}

pytestmark = pytest.mark.integration


def _fast_rules(tmp_path: Path) -> Path:
    """The shipped rules with every `for:` cut to 5 s: the expressions are what this
    test proves against the engine; the `for:` timing is pinned by promtool's tests."""
    text = re.sub(r"(?m)^(\s+for:\s*)\S+", r"\g<1>5s", ALERTS.read_text(encoding="utf-8"))
    path = tmp_path / "alerts-fast.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _start(workers: Any, tmp_path: Path, **sizes: int) -> tuple[Worker, list[bytes], Prometheus]:
    path, lines = history(tmp_path, **sizes)
    worker = workers("--input", str(path))
    settle(worker, reference.compute(lines, prefix=workers.prefix))
    rules = [_fast_rules(tmp_path)]
    prom = Prometheus(targets=[f"127.0.0.1:{worker.port}"], rule_files=rules)
    try:
        prom.wait_for('up{job="streamkpi"} == 1', timeout=60)
    except BaseException:
        prom.stop()
        raise
    return worker, lines, prom


def _wait_scrapes(prom: Prometheus, count: int, timeout: float = 60.0) -> None:
    """Wait until Prometheus holds `count` scrapes of the worker (rate() needs two)."""
    prom.wait_for(f'count_over_time(up{{job="streamkpi"}}[5m]) >= {count}', timeout=timeout)


@pytest.mark.integration
def test_every_dashboard_panel_query_returns_series(workers, tmp_path: Path) -> None:
    _, _, prom = _start(workers, tmp_path)
    with prom:
        _wait_scrapes(prom, 4)
        queries = panel_queries()
        assert len(queries) >= 40
        deadline = time.monotonic() + 60
        while True:
            empty = {(d, p): e for d, p, e in queries if not prom.query(e)}
            if set(empty) <= set(NO_DATA_EXPECTED) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        unexpected = {k: v for k, v in empty.items() if k not in NO_DATA_EXPECTED}
        assert unexpected == {}, "panel queries without any series"
        # The exception list must stay minimal: an exempt panel that has data now is stale.
        stale = set(NO_DATA_EXPECTED) - set(empty)
        assert stale == set(), "NO_DATA_EXPECTED lists panels that do return series"


def _spike(lines: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    """subscription.canceled for every live paid subscription of most paying customers."""
    last: dict[str, dict[str, Any]] = {}
    stamps: list[str] = []
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        for event in value if isinstance(value, list) else [value]:
            if not isinstance(event, dict) or not isinstance(event.get("ts"), str):
                continue
            stamps.append(event["ts"])
            if str(event.get("type", "")).startswith(("subscription.", "trial.")):
                last[event["subscription_id"]] = event
    live = {"subscription.started", "subscription.changed", "subscription.resumed"}
    paying: dict[str, list[str]] = {}
    for sub, event in last.items():
        if event["type"] in live:
            paying.setdefault(event["customer_id"], []).append(sub)
    assert len(paying) >= 10, f"too few paying customers for a spike: {len(paying)}"
    last_day = max(s for s in stamps if s.startswith("20"))[:10]
    chosen = sorted(paying)[: len(paying) * 4 // 5]
    return [
        (
            customer,
            {
                "event_id": f"spike-{customer}-{sub}",
                "type": "subscription.canceled",
                "ts": f"{last_day}T12:00:00Z",
                "customer_id": customer,
                "subscription_id": sub,
                "reason": "churn spike test",
            },
        )
        for customer in chosen
        for sub in paying[customer]
    ]


async def _produce(bootstrap: str, topic: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for customer, event in events:
            await producer.send_and_wait(topic, orjson.dumps(event), key=customer.encode())
    finally:
        await producer.stop()


def _churn_alerts(prom: Prometheus) -> list[dict[str, Any]]:
    return [a for a in prom.alerts() if a["labels"]["alertname"] == ALERT]


def _for_seconds(prom: Prometheus) -> float:
    (rule,) = [r for r in prom.rules() if r["name"] == ALERT]
    return float(rule.get("duration", 0))


@pytest.mark.integration
def test_churn_spike_through_kafka_fires_customer_churn_alert(
    workers, broker, tmp_path: Path
) -> None:
    worker, lines, prom = _start(workers, tmp_path, **SPIKE_HISTORY)
    with prom:
        _wait_scrapes(prom, 3)
        before = prom.value(f"max without (instance, pod) ({CHURN})")
        assert before is not None and before <= CHURN_TARGET
        assert (
            prom.value('max without (instance, pod) (saas_kpi_target{kpi="customer_churn_rate"})')
            == CHURN_TARGET
        )
        time.sleep(3)  # a few rule evaluations (every 1 s) on the quiet history
        assert _churn_alerts(prom) == [], "churn alert active before the spike"

        spike = _spike(lines)
        asyncio.run(_produce(broker.bootstrap, f"{workers.prefix}subscriptions", spike))
        spike_lines = [orjson.dumps(event) for _, event in spike]
        expected = reference.compute(lines + spike_lines, prefix=workers.prefix)
        settle(worker, expected)
        assert expected[CHURN] > CHURN_TARGET
        prom.wait_for(f"max without (instance, pod) ({CHURN}) > {CHURN_TARGET}", timeout=30)

        patience = _for_seconds(prom) + 120
        deadline = time.monotonic() + patience
        alerts: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            alerts = _churn_alerts(prom)
            if any(a["state"] == "firing" for a in alerts):
                break
            time.sleep(5)
        else:
            pytest.fail(f"{ALERT} not firing within {patience:.0f}s; last alerts: {prom.alerts()}")
        firing = [a for a in alerts if a["state"] == "firing"]
        assert {a["labels"].get("trigger") for a in firing} >= {"above_target"}
        assert float(firing[0]["value"]) == pytest.approx(expected[CHURN])
