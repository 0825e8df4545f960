"""`stripe convert` without a broker: file formats, order, duplicates, the CLI, the end state."""

from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pytest

from engine.cli import main
from engine.stripe.convert import convert, read_stripe_events
from tests import reference
from tests.stripe import scenario


def converted(data: bytes, tmp_path: Path) -> tuple[bytes, str]:
    source = tmp_path / "stripe.jsonl"
    source.write_bytes(data)
    out = io.BytesIO()
    tally = convert(read_stripe_events(source), out, progress=False)
    return out.getvalue(), tally.summary()


def test_scenario_ends_in_the_hand_computed_state(tmp_path: Path) -> None:
    history, summary = converted(scenario.export_pages(scenario.events()), tmp_path)
    samples = reference.compute(history.splitlines())
    assert {key: samples.get(key) for key in scenario.EXPECTED} == scenario.EXPECTED
    assert not any(k.startswith("saas_events_rejected_total") for k in samples)
    # 41 Stripe events, 4 of them ignored (3 foreign types, 1 incomplete), 8 sent twice
    assert summary.startswith("49 Stripe events") and "applied 37," in summary
    assert "rejected 0" in summary


def test_file_order_and_layout_do_not_matter(tmp_path: Path) -> None:
    all_events = scenario.events()
    pages, _ = converted(scenario.export_pages(all_events), tmp_path)
    shuffled, _ = converted(scenario.jsonl_shuffled(all_events), tmp_path)
    pretty = b"".join(
        json.dumps({"object": "list", "data": all_events[i : i + 10]}, indent=2).encode() + b"\n"
        for i in range(0, len(all_events), 10)
    )
    printed, _ = converted(pretty, tmp_path)
    assert pages == shuffled == printed
    assert len(pages.splitlines()) >= len(all_events) - 8


def test_unreadable_lines_are_counted_and_the_rest_converted(tmp_path: Path) -> None:
    good = scenario.events()[:3]
    data = b"\n".join([orjson.dumps(good[0]), b"{not json", orjson.dumps(good[1]), b"[1, 2]"])
    history, summary = converted(data + b"\n" + orjson.dumps(good[2]) + b"\n", tmp_path)
    assert len(history.splitlines()) == 3
    assert "rejected 3" in summary


def test_cli_convert_writes_the_history_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "export.jsonl", tmp_path / "history.jsonl"
    source.write_bytes(scenario.export_pages(scenario.events()))
    assert main(["stripe", "convert", str(source), "--out", str(out)]) == 0
    first = out.read_bytes()
    assert main(["stripe", "convert", str(source), "--out", str(out)]) == 0
    assert out.read_bytes() == first  # deterministic: converting twice gives the same ids
    assert "Stripe events ->" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["stripe", "convert", "missing.jsonl", "--out", "x.jsonl"],
        ["stripe", "convert", "{file}"],
        ["stripe", "import", "{file}"],
        ["stripe"],
        ["stripe", "webhook", "--bootstrap", "127.0.0.1:9"],  # neither secret nor token set
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(
    argv: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STREAMKPI_BOOTSTRAP", raising=False)
    for name in ("OUT", "STRIPE_WEBHOOK_SECRET", "COLLECTOR_TOKEN"):
        monkeypatch.delenv(f"STREAMKPI_{name}", raising=False)
    source = tmp_path / "export.jsonl"
    source.write_bytes(b"")
    assert main([a.replace("{file}", str(source)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("streamkpi: usage error:") and err.count("\n") == 1


def test_cli_convert_of_garbage_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "export.json"
    source.write_bytes(b'{"object": "list",\n "data": [ oops')
    assert main(["stripe", "convert", str(source), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert capsys.readouterr().err.startswith("streamkpi: error: not JSON lines")


def test_an_integer_beyond_64_bits_is_rejected_not_a_crash(tmp_path: Path) -> None:
    good = scenario.events()[0]
    huge = json.dumps({**good, "id": "evt_huge", "created": 10**30}, indent=1).encode()
    history, summary = converted(json.dumps(good, indent=1).encode() + b"\n" + huge, tmp_path)
    assert len(history.splitlines()) == 1
    assert "applied 1," in summary and "rejected 1" in summary
