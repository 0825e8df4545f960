"""KPI targets: packaged defaults, a custom file, a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.targets import load_targets


def test_packaged_defaults() -> None:
    targets = load_targets(None)
    assert targets["mrr_top_share_20pct"] == 0.6 and targets["nrr"] == 1.0
    # v2: support and efficiency targets (docs/targets.md)
    assert targets["csat"] == 80.0 and targets["ticket_resolution_hours"] == 48.0
    assert targets["burn_multiple"] == 2.0
    assert len(targets) == 11


def test_custom_file(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("[targets]\ncac = 150\nnrr = 1.1\n")
    assert load_targets(str(path)) == {"cac": 150.0, "nrr": 1.1}


def test_non_numeric_target_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[targets]\ncac = "high"\nnrr = true\n')
    with pytest.raises(ValueError, match="cac, nrr"):
        load_targets(str(path))
