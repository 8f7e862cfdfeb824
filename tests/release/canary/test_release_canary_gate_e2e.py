"""`kustodian canary analyze` against a real Prometheus scraping real gunicorn agents (the
canary lab, see lab.py).

A test drives a bounded load through its scenario's canary and stable and runs the gate on
their scrape jobs: a canary with AGENT_FAULT_RATE=0.2 is aborted (exit 1), a healthy one
promoted (exit 0); too little traffic is "not enough data" (3); an unreachable Prometheus or
a broken selector is an error (2).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import kustodian
from support.processes import free_port

from .lab import Lab, prometheus

pytestmark = pytest.mark.slow
WINDOW = "1m"


def analyze(url: str, scenario: str, *extra: str) -> tuple[int, dict]:
    proc = kustodian("canary", "analyze", "--prometheus", url, "--window", WINDOW,
                     "--max-error-ratio", "0.02", "--max-p95-ratio", "3", "--min-requests",
                     "100", "--selector", Lab.selector(scenario), "--format", "json", *extra,
                     cwd=Path.cwd())
    assert proc.returncode in (0, 1, 3), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_faulty_canary_is_aborted(canary_lab):
    counts = canary_lab.load(["analyze-faulty"], 250)
    code, report = analyze(canary_lab.url, "analyze-faulty")
    assert counts[canary_lab.canaries["analyze-faulty"].base_url].get(500, 0) > 0, counts
    assert code == 1, report
    assert report["verdict"] == "abort"
    failing = {chk["name"] for chk in report["checks"] if chk["passed"] is False}
    assert "error_ratio[canary]" in failing
    ratio = next(chk["value"] for chk in report["checks"] if chk["name"] == "error_ratio[canary]")
    assert 0.05 < ratio < 0.5, ratio
    assert all(chk["query"] for chk in report["checks"])


def test_healthy_canary_is_promoted_and_text_shows_evidence(canary_lab):
    counts = canary_lab.load(["analyze-healthy"], 250)
    code, report = analyze(canary_lab.url, "analyze-healthy")
    text = kustodian("canary", "analyze", "--prometheus", canary_lab.url, "--window", WINDOW,
                     "--max-error-ratio", "0.02", "--max-p95-ratio", "3", "--min-requests",
                     "100", "--selector", Lab.selector("analyze-healthy"), cwd=Path.cwd())
    assert set(counts[canary_lab.canaries["analyze-healthy"].base_url]) == {201}, counts
    assert code == 0, report
    assert report["verdict"] == "promote"
    values = {chk["name"]: chk["value"] for chk in report["checks"]}
    assert values["error_ratio[canary]"] == 0
    assert values["requests[canary]"] >= 100 and values["requests[stable]"] >= 100
    assert text.returncode == 0
    assert "http_requests_total" in text.stdout and "verdict: promote" in text.stdout


def test_too_little_traffic_is_not_enough_data(canary_lab):
    canary_lab.load(["analyze-low"], 20)
    code, report = analyze(canary_lab.url, "analyze-low")
    assert code == 3, report
    assert report["verdict"] == "not enough data"
    requests = {chk["name"]: chk["value"] for chk in report["checks"]}["requests[canary]"]
    assert requests is not None and requests < 100, report


def test_unreachable_prometheus_and_bad_selector_exit_2():
    down = f"http://127.0.0.1:{free_port()}"
    proc = kustodian("canary", "analyze", "--prometheus", down, "--window", "30s", cwd=Path.cwd())
    assert proc.returncode == 2
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr
    with prometheus({}) as url:                    # the query is refused before any data
        proc = kustodian("canary", "analyze", "--prometheus", url,
                         "--selector", 'job=~"(', "--window", "30s", cwd=Path.cwd())
    assert proc.returncode == 2, proc.stdout
    assert "rejected the query" in proc.stderr and "Traceback" not in proc.stderr
    proc = kustodian("canary", "analyze", "--prometheus", down, "--window", "5 min", cwd=Path.cwd())
    assert proc.returncode == 2 and "not a Prometheus duration" in proc.stderr
