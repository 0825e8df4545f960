"""The shared /metrics parser (engine/process.py) against the oracle's own parser."""

from __future__ import annotations

import pytest

from engine.process import metric_key, parse_metrics
from tests import reference

PAGE = """\
# HELP saas_mrr Monthly recurring revenue
# TYPE saas_mrr gauge
saas_mrr{currency="USD"} 1234.5
saas_events_processed_total{topic="saas.usage"} 3.0
saas_events_processed_created{topic="saas.usage"} 1.7e9
saas_segment_mrr{segment="a \\"quoted\\" one\\\\",dimension="channel"} 7
saas_nps NaN
streamkpi_reader_records_total{outcome="applied"} 12 1700000000000
"""


def test_saas_samples_are_keyed_exactly_like_the_reference_parser() -> None:
    assert parse_metrics(PAGE, "saas_") == pytest.approx(
        reference.parse_exposition(PAGE), nan_ok=True
    )


def test_every_sample_without_a_prefix_and_labels_sorted_and_escaped() -> None:
    samples = parse_metrics(PAGE)
    assert samples['streamkpi_reader_records_total{outcome="applied"}'] == 12
    key = metric_key("saas_segment_mrr", {"segment": 'a "quoted" one\\', "dimension": "channel"})
    assert key == 'saas_segment_mrr{dimension="channel",segment="a \\"quoted\\" one\\\\"}'
    assert samples[key] == 7
    assert not any(name.endswith("_created") for name in samples)


def test_a_line_that_is_not_a_sample_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a Prometheus sample"):
        parse_metrics("saas_mrr{oops 1\n")
