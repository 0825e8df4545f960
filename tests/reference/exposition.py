"""Reading a Prometheus text page into `compute()`-shaped samples, and comparing them."""

from __future__ import annotations

import math
import re

from tests.reference.results import sample_key

SAMPLE_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\S+)?")
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(value: str) -> str:
    table = {"n": "\n", "\\": "\\", '"': '"'}
    return re.sub(r"\\(.)", lambda m: table.get(m[1], "\\" + m[1]), value)


def parse_exposition(text: str) -> dict[str, float]:
    """The saas_* samples of a Prometheus text page, keyed like `compute()`."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.fullmatch(line)
        if m is None:
            raise ValueError(f"unparsable sample line: {line!r}")
        name, body, value = m.groups()
        if not name.startswith("saas_") or name.endswith("_created"):
            continue
        labels = {k: _unescape(v) for k, v in LABEL_RE.findall(body[1:-1] if body else "")}
        samples[sample_key(name, **labels)] = float(value)
    return samples


DISTINCT_VISITORS = ("saas_unique_visitors", "saas_visitor_signup_rate")
DISTINCT_USERS = (
    "saas_active_users",
    "saas_feature_active_users",
    "saas_stickiness",
    "saas_feature_adoption",
)
NEAR = 0.02  # SPEC §3: distinct counts within 2 % above 1,000, exact below


def approximate(expected: dict[str, float]) -> tuple[str, ...]:
    """The sample families SPEC §3 lets be off by 2 % in `expected`: distinct
    counts above 1,000 and the ratios built on them (pass to `diff(near=...)`)."""
    found: tuple[str, ...] = ()
    if expected.get('saas_unique_visitors{window="30d"}', 0) > 1000:
        found += DISTINCT_VISITORS
    users = ("saas_active_users", "saas_feature_active_users")
    if any(v > 1000 for k, v in expected.items() if k.startswith(users)):
        found += DISTINCT_USERS
    return found


def diff(
    expected: dict[str, float],
    actual: dict[str, float],
    *,
    rel: float = 1e-9,
    abs_: float = 1e-6,
    near: tuple[str, ...] = (),
) -> list[str]:
    """Human-readable mismatches between two sample dicts (targets ignored).

    Samples whose name starts with one of `near` may differ by 2 % (see
    `approximate`); the others by `rel`/`abs_`."""
    problems = []
    for key in sorted(set(expected) | set(actual)):
        if key.startswith("saas_kpi_target"):
            continue
        if key not in actual:
            problems.append(f"missing {key} (expected {expected[key]!r})")
        elif key not in expected:
            problems.append(f"extra {key} = {actual[key]!r}")
        elif not math.isclose(
            expected[key],
            actual[key],
            rel_tol=NEAR if key.startswith(near) else rel,
            abs_tol=abs_,
        ):
            both_nan = math.isnan(expected[key]) and math.isnan(actual[key])
            if not both_nan:
                problems.append(f"different {key}: expected {expected[key]!r}, got {actual[key]!r}")
    return problems
