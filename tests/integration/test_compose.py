"""The docker compose stack, checked by reading it (no Docker engine runs here).

- every image is pinned (a tag that is not `latest`, or a digest);
- every host path that a service mounts, and the build context, exist;
- depends_on conditions only wait for health on services that have a healthcheck;
- Prometheus loads the rules file that test_promtool checks, from where the
  prometheus service mounts it, and scrapes every worker service on its port;
- Alertmanager, Grafana's datasource and dashboard provider are wired to the
  services and mounted paths they name.

PyYAML is used when installed; otherwise a small loader for the YAML subset
these files use (block mappings and sequences, flow lists, quoted and block
scalars, anchors, aliases and `<<` merge keys) reads them. When PyYAML is
present the two are compared on every file.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
RULES = REPO / "prometheus" / "alerts.yml"  # the file test_promtool checks
YAML_FILES = [
    COMPOSE,
    REPO / "prometheus" / "prometheus.yml",
    REPO / "prometheus" / "alertmanager.yml",
    *sorted((REPO / "grafana" / "provisioning").glob("*/*.yml")),
]

pytestmark = pytest.mark.integration


# -- a YAML subset loader ---------------------------------------------------------


class _Subset:
    """Recursive descent over (indent, text) lines. Not a general YAML parser."""

    def __init__(self, text: str) -> None:
        self.raw = text.splitlines()
        self.lines = [(i, self._indent(r), self._strip_comment(r)) for i, r in enumerate(self.raw)]
        self.lines = [ln for ln in self.lines if ln[2].strip() and ln[2].strip() != "---"]
        self.pos = 0
        self.anchors: dict[str, Any] = {}

    @staticmethod
    def _indent(line: str) -> int:
        return len(line) - len(line.lstrip(" "))

    @staticmethod
    def _strip_comment(line: str) -> str:
        quote = None
        for i, ch in enumerate(line):
            if quote:
                quote = None if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
                return line[:i].rstrip()
        return line.rstrip()

    def parse(self) -> Any:
        return self.node(self.lines[0][1]) if self.lines else None

    def node(self, indent: int) -> Any:
        text = self.lines[self.pos][2].strip()
        return (
            self.sequence(indent) if text == "-" or text.startswith("- ") else self.mapping(indent)
        )

    def mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while self.pos < len(self.lines) and self.lines[self.pos][1] == indent:
            text = self.lines[self.pos][2].strip()
            if text.startswith("- ") or text == "-":
                break
            match = re.match(r"""("[^"]*"|'[^']*'|[^:'"]+?)\s*:(?:\s+|$)(.*)$""", text)
            if not match:
                raise ValueError(f"line {self.lines[self.pos][0] + 1}: cannot read {text!r}")
            key, value = self.scalar(match[1]), match[2]
            self.pos += 1
            parsed = self.value(value, indent)
            if key == "<<":
                for source in parsed if isinstance(parsed, list) else [parsed]:
                    result = {**copy.deepcopy(source), **result}
            else:
                result[key] = parsed
        return result

    def sequence(self, indent: int) -> list[Any]:
        result = []
        while self.pos < len(self.lines) and self.lines[self.pos][1] == indent:
            number, _, text = self.lines[self.pos]
            text = text.strip()
            if not (text == "-" or text.startswith("- ")):
                break
            rest = text[1:].strip()
            if re.match(r"""("[^"]*"|'[^']*'|[^:'"\[{]+?)\s*:(\s|$)""", rest):
                # "- key: value" opens a mapping indented at the key
                self.lines[self.pos] = (number, indent + text.index(rest), rest)
                result.append(self.mapping(indent + text.index(rest)))
            else:
                self.pos += 1
                result.append(self.value(rest, indent))
        return result

    def value(self, text: str, indent: int) -> Any:
        anchor = None
        if text.startswith("&"):
            anchor, _, text = text.partition(" ")
            text = text.strip()
        if text.startswith("*"):
            result = copy.deepcopy(self.anchors[text[1:]])
        elif text[:1] in ("|", ">"):
            result = self.block_scalar(text, indent)
        elif text:
            result = self.scalar(text)
        elif self.pos < len(self.lines) and (
            self.lines[self.pos][1] > indent
            or (self.lines[self.pos][1] == indent and self.lines[self.pos][2].strip()[:2] == "- ")
        ):
            result = self.node(self.lines[self.pos][1])
        else:
            result = None
        if anchor:
            self.anchors[anchor[1:]] = result
        return result

    def block_scalar(self, header: str, indent: int) -> str:
        start = end = self.lines[self.pos - 1][0] + 1
        while end < len(self.raw) and (
            not self.raw[end].strip() or self._indent(self.raw[end]) > indent
        ):
            end += 1
        while self.pos < len(self.lines) and self.lines[self.pos][0] < end:
            self.pos += 1
        body = self.raw[start:end]
        while body and not body[-1].strip():
            body.pop()
        cut = min((self._indent(b) for b in body if b.strip()), default=0)
        text = "\n".join(b[cut:] for b in body)
        if header[0] == ">":
            text = re.sub(r"(?<!\n)\n(?!\n)", " ", text)
        return text if header.endswith("-") else text + "\n"

    def scalar(self, text: str) -> Any:
        text = text.strip()
        if text[:1] in "[{":
            return self.flow(text)
        if text[:1] == '"':
            return json.loads(text)
        if text[:1] == "'":
            return text[1:-1].replace("''", "'")
        if text in ("null", "~", ""):
            return None
        if text in ("true", "false"):
            return text == "true"
        if re.fullmatch(r"[-+]?\d+", text):
            return int(text)
        if re.fullmatch(r"[-+]?\d*\.\d+", text):
            return float(text)
        return text

    def flow(self, text: str) -> Any:
        inner, items, depth, quote, current = text[1:-1], [], 0, None, ""
        for ch in inner:
            if quote:
                quote = None if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            elif ch == "," and depth == 0:
                items.append(current)
                current = ""
                continue
            current += ch
        items = [i.strip() for i in [*items, current] if i.strip()]
        if text[0] == "[":
            return [self.scalar(i) for i in items]
        pairs = [re.match(r"""("[^"]*"|'[^']*'|[^:]+?)\s*:\s*(.*)$""", i) for i in items]
        return {self.scalar(p[1]): self.scalar(p[2]) for p in pairs if p}


def load_subset(text: str) -> Any:
    return _Subset(text).parse()


def load_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        return load_subset(path.read_text())
    return yaml.safe_load(path.read_text())


# -- helpers ----------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> source (a host path starting with . or /, or a volume name)."""
    result = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            result[volume["target"]] = volume["source"]
        else:
            source, target = volume.split(":")[:2]
            result[target] = source
    return result


def flag(service: dict[str, Any], name: str) -> str | None:
    for arg in service.get("command", []):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def host_file(service: dict[str, Any], container_path: str) -> Path:
    """The repo file a container path of service comes from, through its bind mounts."""
    for target, source in sorted(mounts(service).items(), key=lambda m: -len(m[0])):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            assert source.startswith((".", "/")), f"{container_path} is in volume {source}"
            return (REPO / source / Path(container_path).relative_to(target)).resolve()
    raise AssertionError(f"{container_path} is not mounted from the repo")


def workers() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services().items() if s.get("command", [None])[0] == "run"}


# -- tests ------------------------------------------------------------------------


def test_subset_loader_reads_anchors_merges_and_block_scalars() -> None:
    text = (
        "x: &base\n  a: 1\n  env: &env\n    K: v\nsvc:\n  <<: *base\n  env:\n    <<: *env\n"
        "    L: 'it''s'\n  cmd: [\"run\", --x=1]\n  list:\n  - a\n  - b: 2\n    c: \"q\"\n"
        "  text: >-\n    one\n    two\n  # comment\n  lit: |\n    keep\n    lines\n"
    )
    assert load_subset(text)["svc"] == {
        "a": 1, "env": {"K": "v", "L": "it's"}, "cmd": ["run", "--x=1"],
        "list": ["a", {"b": 2, "c": "q"}], "text": "one two", "lit": "keep\nlines\n",
    }  # fmt: skip


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_subset_loader_agrees_with_pyyaml(path: Path) -> None:
    subset = load_subset(path.read_text())
    assert isinstance(subset, dict) and subset
    try:
        import yaml
    except ImportError:
        return  # nothing to compare with; the structural tests below still use the subset
    assert subset == yaml.safe_load(path.read_text())


def test_every_image_is_pinned() -> None:
    for name, service in services().items():
        image = service.get("image")
        if image is None:
            assert "build" in service, f"{name}: neither image nor build"
            continue
        if "@sha256:" in image:
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: image {image} has no tag"
        assert tag != "latest", f"{name}: image {image} is not pinned"


def test_every_mounted_host_path_and_build_context_exists() -> None:
    declared = set(compose().get("volumes") or {})
    for name, service in services().items():
        for target, source in mounts(service).items():
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), (
                    f"{name}: {source} (for {target}) is not in the repo"
                )
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
        build = service.get("build")
        if build:
            context = REPO / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = (
                "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            )
            assert (context / dockerfile).is_file(), f"{name}: no {dockerfile} in {context}"


def test_startup_order_waits_on_healthchecks() -> None:
    for name, service in services().items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services(), f"{name} depends on unknown {dependency}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services()[dependency], f"{dependency} has no healthcheck"
    for name in ["kafka", *workers(), "prometheus", "alertmanager", "grafana"]:
        assert "healthcheck" in services()[name], f"{name} has no healthcheck"


def test_kafka_is_one_kraft_broker_with_a_data_volume() -> None:
    kafka = services()["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    assert mounts(kafka)[env["KAFKA_LOG_DIRS"]] in compose()["volumes"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_two_workers_and_a_simulator_share_one_image_and_broker() -> None:
    assert len(workers()) >= 2
    simulator = services()["simulator"]
    assert simulator["command"][:2] == ["simulate", "--live"]
    for name, service in [*workers().items(), ("simulator", simulator)]:
        assert service["build"] == simulator["build"] and service["image"] == simulator["image"], (
            name
        )
        assert service["environment"]["STREAMKPI_BOOTSTRAP"] == "kafka:9092", name
    for name, worker in workers().items():
        assert worker["environment"]["STREAMKPI_METRICS_BIND"] == "0.0.0.0", name
        assert worker["depends_on"]["kafka"]["condition"] == "service_healthy", name


def test_prometheus_loads_the_checked_rules_and_scrapes_every_worker() -> None:
    prometheus = services()["prometheus"]
    config_path = flag(prometheus, "--config.file")
    assert config_path, "prometheus needs --config.file"
    config = load_yaml(host_file(prometheus, config_path))
    rule_files = [host_file(prometheus, p) for p in config["rule_files"]]
    assert RULES.resolve() in rule_files, f"the compose Prometheus loads {rule_files}, not {RULES}"
    assert mounts(prometheus)["/prometheus"] in compose()["volumes"]

    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    scraped = {t for sc in jobs["streamkpi"]["static_configs"] for t in sc["targets"]}
    expected = {
        f"{name}:{w['environment']['STREAMKPI_METRICS_PORT']}" for name, w in workers().items()
    }
    assert scraped == expected
    alertmanager = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager == ["alertmanager:9093"] and "alertmanager" in services()


def test_alertmanager_config_is_mounted() -> None:
    alertmanager = services()["alertmanager"]
    path = host_file(alertmanager, flag(alertmanager, "--config.file") or "")
    assert path == (REPO / "prometheus" / "alertmanager.yml").resolve()
    receivers = {r["name"] for r in load_yaml(path)["receivers"]}
    assert load_yaml(path)["route"]["receiver"] in receivers


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboards() -> None:
    grafana = services()["grafana"]
    datasources = load_yaml(
        host_file(grafana, "/etc/grafana/provisioning/datasources/datasources.yml")
    )
    prometheus = next(d for d in datasources["datasources"] if d["type"] == "prometheus")
    assert prometheus["uid"] == "prometheus" and prometheus["url"] == "http://prometheus:9090"

    providers = load_yaml(host_file(grafana, "/etc/grafana/provisioning/dashboards/dashboards.yml"))
    folder = host_file(grafana, providers["providers"][0]["options"]["path"])
    assert folder == (REPO / "grafana" / "dashboards").resolve()
    assert len(list(folder.glob("*.json"))) >= 4
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_file(grafana, home).is_file()


def test_dockerfile_pins_its_base_and_runs_streamkpi() -> None:
    text = (REPO / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M)
    assert base and ":" in base[1] and not base[1].endswith(":latest")
    assert 'ENTRYPOINT ["streamkpi"]' in text
    ignore = (REPO / ".dockerignore").read_text().split()
    assert {"*", "!pyproject.toml", "!engine/", "!events/", "!tables/"} <= set(ignore)


def compose_default(value: str) -> str:
    """What docker compose makes of `${VAR:-default}` when VAR is unset."""
    match = re.fullmatch(r"\$\{\w+:?-([^}]*)\}", value)
    return match[1] if match else value


def test_grafana_asks_for_a_login_unless_anonymous_viewers_are_chosen() -> None:
    """Anonymous viewers are off unless GRAFANA_ANONYMOUS=true (docs/operations.md)."""
    env = services()["grafana"]["environment"]
    assert compose_default(str(env["GF_AUTH_ANONYMOUS_ENABLED"])).lower() == "false"
    assert "GRAFANA_ANONYMOUS" in str(env["GF_AUTH_ANONYMOUS_ENABLED"])
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"  # when chosen: never an editor
    assert compose_default(str(env["GF_SECURITY_ADMIN_PASSWORD"])) == "admin"
    assert "GRAFANA_ANONYMOUS" in (REPO / "docs" / "operations.md").read_text()
