"""Monitoring: promtool checks and unit-tests the alert rules of every rendered overlay; the
ServiceMonitor scrapes with the `track` label; the dashboard is valid JSON whose panels
query metrics the agent exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from deploy_helpers import OVERLAYS, one
from support.processes import require_tool

HERE = Path(__file__).resolve().parent
REQUIRED_ALERTS = {"AgentHighErrorRatio", "AgentHighLatencyP95", "AgentLLMFailureRatio",
                   "AgentPodRestarting", "AgentMemoryNearLimit", "RedisDown"}
# Metrics from kube-state-metrics / cAdvisor, not from the app.
PLATFORM_METRICS = {"kube_pod_container_status_restarts_total",
                    "container_memory_working_set_bytes",
                    "kube_pod_container_resource_limits",
                    "kube_statefulset_status_replicas_ready"}
PROMQL_WORDS = {"sum", "by", "rate", "histogram_quantile", "count", "max", "and", "or",
                "increase", "le", "label_values"}


def rules_of(resources) -> dict:
    return {"groups": one(resources, "PrometheusRule", "agent")["spec"]["groups"]}


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("promtool"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def write_rule_test(tmp_path: Path, rules: dict) -> Path:
    (tmp_path / "agent-rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    return Path(shutil.copy(HERE / "promtool" / "agent-alerts.test.yaml", tmp_path))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_promtool_check_and_test_rules(overlay, render, tmp_path):
    rules = rules_of(render(f"overlays/{overlay}"))
    test_file = write_rule_test(tmp_path, rules)
    check = promtool("check", "rules", "agent-rules.yaml", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 6 rules found" in check.stdout
    result = promtool("test", "rules", test_file.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_for_severity_and_runbook(render):
    rules = [r for g in rules_of(render("overlays/prod"))["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} == REQUIRED_ALERTS
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["runbook_url"].startswith("https://")
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        runbooks = (Path(__file__).parents[2] / "base/monitoring/runbooks.md").read_text()
        assert f"## {rule['alert']}\n" in runbooks and anchor == rule["alert"].lower()


def test_unit_tests_catch_a_broken_rule(render, tmp_path):
    """The promtool tests have teeth: RedisDown without its `for:` must fail them."""
    rules = rules_of(render("overlays/prod"))
    for rule in rules["groups"][0]["rules"]:
        if rule["alert"] == "RedisDown":
            del rule["for"]
    test_file = write_rule_test(tmp_path, rules)
    result = promtool("test", "rules", test_file.name, cwd=tmp_path)
    assert result.returncode != 0 and "RedisDown" in result.stdout + result.stderr


def app_metric_names() -> set[str]:
    """Sample names the agent's /metrics exposes (from its registered collectors)."""
    from agent import metrics  # the real app module; registers its collectors on import

    names: set[str] = set()
    for collector in (metrics.HTTP_REQUESTS, metrics.HTTP_DURATION, metrics.LLM_CALLS,
                      metrics.TOKENS, metrics.SESSIONS_ACTIVE, metrics.BUILD_INFO):
        for family in collector.describe():
            base = family.name
            kind = family.type
            names |= {f"{base}_total"} if kind == "counter" else {base}
            if kind == "histogram":
                names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (identifiers followed by `{`)."""
    found = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr))
    return found - PROMQL_WORDS


def test_dashboard_is_valid_and_queries_exposed_metrics(render):
    exposed = app_metric_names()
    assert {"http_requests_total", "http_request_duration_seconds_bucket",
            "agent_llm_calls_total", "agent_tokens_total", "agent_sessions_active"} <= exposed
    config = next(r for r in render("overlays/prod") if r["kind"] == "ConfigMap"
                  and r["metadata"]["name"].startswith("agent-dashboard"))
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config["data"]["agent.json"])
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("requests per second", "error ratio", "p50", "p95", "p99", "llm calls",
                  "tokens", "active sessions"):
        assert topic in titles, f"no panel about {topic}"
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = metric_names(target["expr"])
            assert used and used <= exposed, f"{panel['title']}: {used - exposed} not exposed"


def test_alerts_query_app_or_platform_metrics(render):
    exposed = app_metric_names() | PLATFORM_METRICS
    for group in rules_of(render("overlays/prod"))["groups"]:
        for rule in group["rules"]:
            used = metric_names(rule["expr"])
            assert used and used <= exposed, f"{rule['alert']}: {used - exposed}"


def test_servicemonitor_scrapes_both_tracks_with_track_label(render):
    resources = render("overlays/prod-canary")
    monitor = one(resources, "ServiceMonitor", "agent")["spec"]
    assert monitor["podTargetLabels"] == ["track"]
    (endpoint,) = monitor["endpoints"]
    assert endpoint["path"] == "/metrics"
    services = [r for r in resources if r["kind"] == "Service"
                and monitor["selector"]["matchLabels"].items() <= r["metadata"]["labels"].items()]
    assert sorted(s["metadata"]["name"] for s in services) == ["agent", "agent-canary"]
    for svc in services:
        assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
