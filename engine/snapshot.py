"""`streamkpi snapshot`: read a running deployment's /metrics (the dashboard or JSON)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterable

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tables.report import Sample


def _read(url: str, timeout: float) -> str:
    """The page at `url`; one-line errors that name the URL."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - operator-given
            return str(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"cannot read {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ConnectionError(f"cannot read {url}: {exc.reason} (is a worker running?)") from None
    except (OSError, ValueError) as exc:
        raise ConnectionError(f"cannot read {url}: {exc}") from None


def fetch(url: str, timeout: float = 5.0) -> list[Sample]:
    """Samples of a Prometheus text page (saas_* only, no *_created)."""
    text = _read(url, timeout)
    samples: list[Sample] = []
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name.startswith("saas_") and not s.name.endswith("_created"):
                    samples.append((s.name, tuple(sorted(s.labels.items())), float(s.value)))
    except ValueError:
        raise ValueError(f"{url} is not a Prometheus text page") from None
    return samples


def to_json(samples: Iterable[Sample]) -> str:
    items = [{"metric": n, "labels": dict(lb), "value": v} for n, lb, v in samples]
    return orjson.dumps(items, option=orjson.OPT_INDENT_2).decode()
