"""deploy/monitoring: Prometheus accepts the config and rules, the rules fire as intended, and every edigate_*
metric the rules and the dashboard name is one edigate actually exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edigate.metrics import GaugeSnapshot, Metrics, QueueGauge

MONITORING = Path(__file__).resolve().parents[3] / "deploy" / "monitoring"
RULES = MONITORING / "rules.yml"
CONFIG = MONITORING / "prometheus.yml"
RULES_TEST = MONITORING / "rules.test.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
_NAME = re.compile(r"\bedigate_[a-zA-Z0-9_]+")


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (Debian package `prometheus`; .ci/run installs it)")
    return path


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], input=stdin, capture_output=True, text=True, timeout=60)


def _rule_exprs() -> list[str]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read rules.yml")
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule["expr"] for group in doc["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def _exported_names() -> set[str]:
    m = Metrics(["5790000000111"], ["XDIS91"], organisation_names={"5790000000111": "OUH"})
    return m.metric_names()


def test_promtool_check_rules() -> None:
    result = _run("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_config() -> None:
    result = _run("check", "config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_fire_on_synthetic_series() -> None:
    result = _run("test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    """promtool has no expression checker of its own; a recording rule per panel query is checked instead."""
    exprs = _dashboard_exprs()
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, expr in enumerate(exprs):
        lines += [f"      - record: dashboard_query_{i}", f"        expr: {json.dumps(expr)}"]
    rules = tmp_path / "dashboard-rules.yml"
    rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _run("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(exprs)} rules found" in result.stdout


def test_every_metric_named_in_rules_and_dashboard_is_exported() -> None:
    exported = _exported_names()
    named = {n for expr in _rule_exprs() + _dashboard_exprs() for n in _NAME.findall(expr)}
    assert len(named) >= 12  # the parse found them
    missing = sorted(named - exported)
    assert not missing, f"named in deploy/monitoring but not exported by edigate.metrics: {missing}"


def test_rules_cover_the_required_alerts() -> None:
    text = RULES.read_text(encoding="utf-8")
    for alert in [
        "EdigateRouteDown",
        "EdigateReceiptsOverdue",
        "EdigateMailOutboxStuck",
        "EdigateDown",
        "EdigateDeadLettersRising",
    ]:
        assert f"alert: {alert}" in text
    assert 'up{job="edigate"} == 0' in text


def test_dashboard_has_the_required_panels() -> None:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = " ".join(_dashboard_exprs())
    assert doc["uid"] and doc["title"]
    assert "edigate_route_state" in exprs  # health matrix
    assert "sum by (type) (rate(edigate_messages_received_total" in exprs  # rates per MedCom type
    assert "histogram_quantile(0.95" in exprs  # latency percentiles
    assert "edigate_queue_depth" in exprs
    assert "edigate_incidents_open" in exprs
    matrix = doc["panels"][0]
    assert matrix["transformations"][0]["id"] == "groupingToMatrix"


def test_exposition_passes_promtool_check_metrics() -> None:
    m = Metrics(
        ["5790000000111", "5790000000227"],
        ["XDIS91"],
        organisation_names={"5790000000111": "OUH", "5790000000227": "Kolding Kommune"},
    )
    m.message_received("XDIS91", "5790000000111", "5790000000227", "accepted")
    m.delivery_finished("5790000000227", "delivered", 0.05)
    m.receipt_received("XDIS91", 30)
    m.validation_observed("XDIS91", 0.003)
    m.set_snapshot(
        GaugeSnapshot(
            queues={"5790000000227": QueueGauge(1, None)}, route_states={("5790000000111", "5790000000227"): "ok"}
        )
    )
    result = _run("check", "metrics", stdin=m.render().decode())
    assert result.returncode == 0, result.stdout + result.stderr
