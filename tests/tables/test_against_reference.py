"""The pure fold against the independent reference (tests/reference/), no broker.

Seeded adversarial v2 histories (tests/v2_history.py: every event type,
attribute changes, schedules, tickets, backdated events, duplicates, bad
lines) go through the engine's decoder and `Store`, and every non-usage sample
must equal the reference's. The integration tests do the same through Kafka
with one and two workers; this one runs in seconds and covers more histories.
"""

from __future__ import annotations

import pytest

from events import types as t
from events.codec import decode
from tables.report import report
from tables.store import Store
from tests import reference
from tests.v2_history import V2Config, history

# usage-side samples need the usage snapshots (tests/tables/test_activity.py); the
# counters need the router's per-input keys (tests/engine/test_router.py)
USAGE_SIDE = (
    "saas_active_users",
    "saas_unique_visitors",
    "saas_feature",
    "saas_stickiness",
    "saas_visitor_signup_rate",
    "saas_at_risk",
    "saas_events_",
)


def fold(lines: list[bytes]) -> dict[str, float]:
    store = Store()
    for line in lines:
        topic = reference.route(line)
        for item in decode(line, topic):
            if isinstance(item, t.Event):
                store.apply(item, topic)
    return {
        reference.sample_key(name, **dict(labels)): value
        for name, labels, value in report(store)
        if not name.startswith(USAGE_SIDE)
    }


CONFIGS = [
    *(V2Config(seed=seed, customers=40, days=70, backdate=0.3) for seed in range(4)),
    *(V2Config(seed=seed, customers=20, days=200, duplicate_every=4) for seed in range(10, 12)),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"seed{c.seed}-{c.days}d")
def test_store_equals_reference(config: V2Config) -> None:
    lines = history(config)
    expected = {k: v for k, v in reference.compute(lines).items() if not k.startswith(USAGE_SIDE)}
    assert len(expected) > 100
    assert reference.diff(expected, fold(lines)) == []
