"""The repository's own overlays pass the policy gate with zero findings, and the
release tooling can drive the canary overlays as laid out here."""

from __future__ import annotations

import json
import re

import pytest
from support.cli import kustodian


@pytest.mark.slow
def test_kustodian_check_passes_with_zero_findings(repo_root):
    result = kustodian("check", "--format", "json", cwd=repo_root)
    report = json.loads(result.stdout)
    findings = [f"{f['rule']} {f['kind']}/{f['name']} ({f['file']}:{f['line']}): {f['message']}"
                for f in report["findings"]]
    assert result.returncode == 0 and findings == [], "\n".join(findings) or result.stderr
    assert set(report["summary"]["overlays"]) >= {
        "overlays/dev", "overlays/staging", "overlays/prod", "overlays/staging-canary",
        "overlays/prod-canary", "argocd"}
    # The exemptions are the documented single Redis primary in prod and the API server's
    # warning on Argo CD's own finalizer name (kept as Argo CD spells it).
    assert {(e["rule"], e["kind"], e["name"]) for e in report["exemptions"]} == {
        ("min-replicas", "StatefulSet", "redis"),
        ("apiserver-warning", "AppProject", "agent"),
        ("apiserver-warning", "AppProject", "agent-bootstrap"),
        ("apiserver-warning", "Application", "agent-root"),
        ("apiserver-warning", "Application", "agent-dev"),
        ("apiserver-warning", "Application", "agent-staging"),
        ("apiserver-warning", "Application", "agent-prod")}


def changed_lines(diff: str) -> list[str]:
    return [line for line in diff.splitlines()
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]


def test_canary_weight_is_a_one_line_edit_per_weight(repo_root):
    result = kustodian("canary", "weight", "25", "--env", "staging", "--dry-run", cwd=repo_root)
    assert result.returncode == 0, result.stderr
    assert "+++ b/overlays/staging-canary/kustomization.yaml" in result.stdout
    assert result.stdout.count("+++ ") == 1
    assert sorted(changed_lines(result.stdout)) == [
        "+        value: 25", "+        value: 75", "-        value: 10", "-        value: 90"]


def test_prod_canary_start_edits_image_replicas_and_weights_only(repo_root):
    digest = "sha256:" + "ab" * 32
    result = kustodian("canary", "start", "--env", "prod", "--tag", "0.2.0", "--digest", digest,
                       "--dry-run", cwd=repo_root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("+++ ") == 1
    assert "+++ b/overlays/prod-canary/kustomization.yaml" in result.stdout
    changed = sorted(line[0] + line.strip("+- ") for line in changed_lines(result.stdout))
    old_tag = next(line for line in changed if line.startswith("-newTag: "))
    assert re.fullmatch(r"-newTag: [\w.-]+@sha256:[0-9a-f]{64}", old_tag)
    assert changed == sorted([old_tag, f"+newTag: 0.2.0@{digest}", "-count: 0", "+count: 1",
                              "-value: 100", "+value: 90", "-value: 0", "+value: 10"])
