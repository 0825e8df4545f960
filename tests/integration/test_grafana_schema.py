"""Every dashboard validates against Grafana's own dashboard JSON Schema.

No Grafana server runs here, so the dashboards are checked against the schema
Grafana publishes for the version docker-compose.yml pins: `grafana/grafana-
foundation-sdk`, branch `v11.3.x+cog-v0.0.x`, `jsonschema/dashboard.jsonschema.json`
(vendored in tests/integration/data/grafana-11.3/ with its Apache-2.0 licence and
NOTICE). Before validating, two things the schema does not describe are
normalised, and nothing else:

- export-only keys (`__inputs`, `__requires`, `__elements`: written by Grafana's
  "Export for sharing externally", never stored in a dashboard) are dropped;
- the first threshold step's `"value": null`: Grafana stores the base step's
  -Infinity as null (the schema's own description of `Threshold.value` says so)
  and sets it back to -Infinity on load, so only there null becomes a number;
- the Prometheus-specific keys of an annotation query (`titleFormat`,
  `textFormat`, `tagKeys`, `step`, `useValueForTime`): the schema's
  `AnnotationQuery` lists only the built-in Grafana datasource's fields (its
  `target` is marked "TODO: this should be a regular DataQuery").

The schema file itself gets three corrections where its generator rendered a
field of type "any" as "object": `MatcherConfig.options` and
`DynamicConfigValue.value` (a field-override matcher such as `byName` takes a
string, a property such as `decimals` a number) and the values of a variable's
`query` object (strings). The same SDK's Go types, generated from the same
source, declare them `any` and `map[string]any` (`go/dashboard/types_gen.go` on
that branch), and Grafana itself writes them so.

The schema only types `schemaVersion`, so the version is asserted separately.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.integration.test_compose import services
from tests.integration.test_dashboards import dashboards

DATA = Path(__file__).resolve().parent / "data" / "grafana-11.3"
SCHEMA = DATA / "dashboard.jsonschema.json"
GRAFANA_VERSION = "11.3"  # the branch the schema comes from
SCHEMA_VERSION = 39  # the dashboard schemaVersion of that schema (its default)
EXPORT_ONLY = {"__inputs", "__requires", "__elements"}
PROMETHEUS_ANNOTATION_KEYS = {"titleFormat", "textFormat", "tagKeys", "step", "useValueForTime"}

pytestmark = pytest.mark.integration


def load_schema() -> dict[str, Any]:
    """The vendored schema with its three "any rendered as object" fields corrected."""
    schema = json.loads(SCHEMA.read_text())
    definitions = schema["definitions"]
    for definition, field in (("MatcherConfig", "options"), ("DynamicConfigValue", "value")):
        declared = definitions[definition]["properties"][field]
        assert declared["type"] == "object", f"{definition}.{field} changed: review the fix"
        definitions[definition]["properties"][field] = {
            "description": declared.get("description", "")
        }
    query = definitions["VariableModel"]["properties"]["query"]["oneOf"][1]
    assert query["additionalProperties"]["type"] == "object", "VariableModel.query changed"
    query["additionalProperties"] = {}
    return schema


def validator() -> jsonschema.Draft7Validator:
    schema = load_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _base_steps(node: Any) -> None:
    """Give every thresholds' first step with value null a number (it means -Infinity)."""
    if isinstance(node, dict):
        steps = node.get("steps") if "mode" in node else None
        if isinstance(steps, list) and steps and steps[0].get("value", 0) is None:
            steps[0]["value"] = float("-1e308")
        for value in node.values():
            _base_steps(value)
    elif isinstance(node, list):
        for value in node:
            _base_steps(value)


def normalise(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The dashboard as the schema describes it (see the module docstring)."""
    out = {k: v for k, v in copy.deepcopy(dashboard).items() if k not in EXPORT_ONLY}
    _base_steps(out)
    for note in out.get("annotations", {}).get("list", []):
        if note.get("datasource", {}).get("type") == "prometheus":
            for key in PROMETHEUS_ANNOTATION_KEYS:
                note.pop(key, None)
    return out


def errors(dashboard: dict[str, Any]) -> list[str]:
    found = validator().iter_errors(normalise(dashboard))
    return sorted(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        + "".join(
            f"\n    {'/'.join(map(str, c.absolute_path))}: {c.message[:200]}" for c in e.context
        )
        for e in found
    )


def test_schema_is_for_the_grafana_version_compose_pins() -> None:
    image = services()["grafana"]["image"]
    match = re.fullmatch(r"grafana/grafana(?:-oss)?:(\d+)\.(\d+)\.\d+", image)
    assert match, f"compose pins {image}: vendor the schema of its version"
    assert f"{match[1]}.{match[2]}" == GRAFANA_VERSION
    assert "Apache License" in (DATA / "LICENSE").read_text()
    assert "grafana-foundation-sdk" in (DATA / "NOTICE").read_text()
    schema = json.loads(SCHEMA.read_text())
    assert schema["definitions"]["Dashboard"]["properties"]["schemaVersion"]["default"] == (
        SCHEMA_VERSION
    )


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_dashboard_validates_against_grafana_schema(name: str) -> None:
    dashboard = dashboards()[name]
    assert dashboard.get("schemaVersion") == SCHEMA_VERSION, name
    assert errors(dashboard) == []


def test_validation_catches_what_grafana_would_reject() -> None:
    """The check can fail: typical mistakes in a valid dashboard are reported."""
    good = dashboards()["executive-overview.json"]
    assert errors(good) == []
    bad_grid = copy.deepcopy(good)
    bad_grid["panels"][0]["gridPos"]["w"] = 30  # wider than the 24-column grid
    assert errors(bad_grid)
    bad_key = copy.deepcopy(good)
    bad_key["panels"][0]["gridpos"] = bad_key["panels"][0].pop("gridPos")  # misspelt key
    assert errors(bad_key)
    no_templating = {k: v for k, v in good.items() if k != "templating"}
    assert errors(no_templating)
    null_elsewhere = copy.deepcopy(good)
    steps = null_elsewhere["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    steps.append({"color": "red", "value": None})  # only the base step may be null
    assert errors(null_elsewhere)


def test_export_only_keys_are_the_only_keys_dropped() -> None:
    exported = {**dashboards()["executive-overview.json"], "__inputs": [{"name": "DS"}]}
    assert errors(exported) == []
    assert errors({**exported, "__unknown": 1})
