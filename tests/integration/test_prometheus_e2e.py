"""End to end with real parts: broker -> `streamkpi run` -> a real Prometheus
(the shipped rules) -> a real Alertmanager (the shipped alertmanager.yml) -> a pager.

- every PromQL query of every Grafana panel returns at least one series from a
  Prometheus that scrapes a worker which has read a simulated history;
- a churn spike fed through Kafka (cancellations of most paying customers on the
  history's last day) reaches the stand-in pager as a CustomerChurnSpike
  notification on the `business` receiver, with severity, summary, value and a
  runbook_url that opens; a worker that stops arrives as WorkerDown on
  `platform`; the last one as NoWorker on `oncall`, with WorkerDown inhibited;
  notifications are grouped by alert name (docs/operations.md#alerts).

The test copies differ from the shipped files only in their waits (`for:` of
every rule, the routes' group_wait/group_interval) and in the receivers' target,
so the test finishes in about a minute after the history is read.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from tests import reference
from tests.integration.alertmanager import Alertmanager, Receiver, fast_config
from tests.integration.conftest import Worker, settle
from tests.integration.prometheus import Prometheus
from tests.integration.test_dashboards import ALERTS, OPERATIONS, github_anchor, panel_queries
from tests.integration.test_pipeline import history

# history() defaults (40 customers, 45 days) produce a sample for every panel metric.
# The churn scenario uses 50 customers over 40 days, and its workers get a targets file
# whose churn target lies halfway between the churn rate before and after the spike
# (computed with tests/reference.py): the alert can only come from the spike, whatever
# churn the simulator's calibration gives the quiet history.
SPIKE_HISTORY = {"customers": 50, "days": 40}
CHURN = 'saas_customer_churn_rate{window="30d"}'
ALERT = "CustomerChurnSpike"
PATIENCE = 240.0  # seconds; generous on a shared machine, never a timing assertion

# (dashboard, panel) -> why this history legitimately gives that query no series.
_STRIPE = "the Stripe receiver (`streamkpi stripe webhook`, docs/stripe.md) exports these; no test here runs it"
NO_DATA_EXPECTED: dict[tuple[str, str], str] = {
    ("streamkpi / Engine health", "Stripe webhook: events by outcome"): _STRIPE,
    ("streamkpi / Engine health", "Stripe webhook: refused deliveries"): _STRIPE,
    ("streamkpi / Engine health", "HTTP collector (POST /events)"): _STRIPE,
}

pytestmark = pytest.mark.integration


ALERTMANAGER_YML = ALERTS.parent / "alertmanager.yml"
RUNBOOKS = "/docs/operations.md"  # where the stand-in pager serves docs/operations.md
# WorkerDown waits longer than NoWorker in the test copy, so that when the last
# worker stops NoWorker is already in Alertmanager: what is proven is the inhibit
# rule, not the race between two alerts of one evaluation (both `for: 1m` shipped).
# Both wait longer than the other rules: the worker that stays up takes over the
# stopped one's partitions and may miss a few scrapes meanwhile (2 s each).
FOR = {"NoWorker": "12s", "WorkerDown": "24s"}


def _fast_rules(tmp_path: Path) -> Path:
    """The shipped rules with every `for:` cut to 5 s (FOR for some): the expressions are
    what this test proves against the engine; the `for:` timing is pinned by promtool."""
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = FOR.get(rule["alert"], "5s")
    path = tmp_path / "alerts-fast.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
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


def _route(labels: dict[str, str]) -> str:
    """The receiver docs/operations.md#alerts names for an alert's labels."""
    if labels.get("area") == "engine":
        return "oncall" if labels.get("severity") == "critical" else "platform"
    return "business" if labels.get("area") == "business" else "default"


def _check_runbook(url: str, base: str, alert: str) -> None:
    """runbook_url is absolute, under the configured base, and opens at the alert's section."""
    assert url == f"{base}#{alert.lower()}", url
    with urllib.request.urlopen(url, timeout=10) as response:  # the fragment stays client-side
        page = response.read().decode()
    headings = {github_anchor(ln.lstrip("#")) for ln in page.splitlines() if ln.startswith("#")}
    assert alert.lower() in headings


def _context(prom: Prometheus, am: Alertmanager, *workers: Worker) -> str:
    alerts = [(a["labels"]["alertname"], a["state"]) for a in prom.alerts()]
    held = [(a["labels"]["alertname"], a["status"]["state"]) for a in am.alerts()]
    logs = "\n".join(w.tail() for w in workers)
    return f"Prometheus alerts: {alerts}\nAlertmanager: {held}\n{am.log()}\n{logs}"


@pytest.mark.integration
def test_churn_spike_and_lost_workers_page_through_alertmanager(
    workers, broker, tmp_path: Path
) -> None:
    path, lines = history(tmp_path, **SPIKE_HISTORY)
    expected = reference.compute(lines, prefix=workers.prefix)
    spike = _spike(lines)
    after = reference.compute(lines + [orjson.dumps(e) for _, e in spike], prefix=workers.prefix)
    assert after[CHURN] > expected[CHURN] + 0.1, (expected[CHURN], after[CHURN])
    target = (expected[CHURN] + after[CHURN]) / 2
    targets = tmp_path / "targets.toml"
    targets.write_text(f"[targets]\ncustomer_churn_rate = {target!r}\n")
    first = workers("--input", str(path), "--targets", str(targets))
    # same consumer group: Kafka splits the partitions between them
    second = workers("--targets", str(targets))
    for worker in (first, second):
        settle(worker, expected)
    shipped = yaml.safe_load(ALERTMANAGER_YML.read_text(encoding="utf-8"))
    with Receiver({RUNBOOKS: OPERATIONS.read_bytes()}) as pager:
        base = pager.url + RUNBOOKS
        with (
            Alertmanager(fast_config(shipped, pager.url)) as am,
            Prometheus(
                targets=[f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"],
                rule_files=[_fast_rules(tmp_path)],
                alertmanager=am.address,
                external_labels={"runbook_base": base},
                scrape_interval="2s",
            ) as prom,
        ):
            context = lambda: _context(prom, am, first, second)  # noqa: E731
            prom.wait_for('count(up{job="streamkpi"} == 1) == 2', timeout=60)
            _wait_scrapes(prom, 3)
            before = prom.value(f"max without (instance, pod) ({CHURN})")
            assert before == pytest.approx(expected[CHURN]) and before < target
            target_kpi = 'max without (instance, pod) (saas_kpi_target{kpi="customer_churn_rate"})'
            assert prom.value(target_kpi) == pytest.approx(target)
            time.sleep(3)  # a few rule evaluations (every 1 s) on the quiet history
            assert _churn_alerts(prom) == [], "churn alert active before the spike"

            # -- a churn spike through Kafka pages the business owners
            asyncio.run(_produce(broker.bootstrap, f"{workers.prefix}subscriptions", spike))
            expected = after
            for worker in (first, second):
                settle(worker, expected)
            churn = pager.wait_for("business", PATIENCE, context, alertname=ALERT)
            assert churn["labels"]["severity"] == "warning"
            assert churn["labels"]["area"] == "business"
            assert churn["labels"]["trigger"] == "above_target"
            assert float(churn["annotations"]["value"]) == pytest.approx(expected[CHURN])
            summary = re.fullmatch(
                r"30-day customer churn rate is ([\d.]+)% \(above_target\)",
                churn["annotations"]["summary"],
            )
            assert summary and float(summary[1]) == pytest.approx(100 * expected[CHURN], rel=1e-3)
            _check_runbook(churn["annotations"]["runbook_url"], base, ALERT)

            # -- a worker that stops is its own alert, for whoever runs the stack
            assert pager.alerts(alertname="WorkerDown") == []
            second.stop()
            down = pager.wait_for(
                "platform", PATIENCE, context, alertname="WorkerDown",
                instance=f"127.0.0.1:{second.port}",
            )  # fmt: skip
            assert (down["labels"]["severity"], down["labels"]["area"]) == ("warning", "engine")
            _check_runbook(down["annotations"]["runbook_url"], base, "WorkerDown")
            assert pager.alerts(alertname="NoWorker") == [], f"NoWorker while up:\n{context()}"

            # -- the last worker stops: NoWorker pages on-call and inhibits WorkerDown
            first.stop()
            pager.wait_for("oncall", PATIENCE, context, alertname="NoWorker", job="streamkpi")
            first_instance = f"127.0.0.1:{first.port}"
            deadline = time.monotonic() + PATIENCE
            while not any(
                a["labels"].get("alertname") == "WorkerDown"
                and a["labels"].get("instance") == first_instance
                and a["status"]["state"] == "suppressed"
                and a["status"]["inhibitedBy"]
                for a in am.alerts()
            ):
                if time.monotonic() > deadline:
                    pytest.fail(f"WorkerDown of {first_instance} never inhibited\n{context()}")
                time.sleep(0.5)
            assert pager.alerts(alertname="WorkerDown", instance=first_instance) == []

            # -- routing and grouping as documented, over everything the pager received
            for note in pager.notifications():
                names = {a["labels"]["alertname"] for a in note["alerts"]}
                assert names == {note["groupLabels"]["alertname"]}, note["groupLabels"]
                assert set(note["groupLabels"]) == {"alertname", "job"}
                assert {_route(a["labels"]) for a in note["alerts"]} == {note["receiver"]}
