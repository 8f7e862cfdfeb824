"""`kustodian check --apiserver` end to end: the real CLI on a copy of this repository, a
throw-away kube-apiserver, findings at the repository's source lines; pull-request mode
applies the base first, so changes the server refuses on an update are findings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

COPIED = ("base", "components", "overlays", "argocd", ".kustodian.yaml")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path, repo_root: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for name in COPIED:
        src = repo_root / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    (root / ".gitignore").write_text("out.json\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "test")
    commit_all(root, "base")
    return root


def check(repo: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    proc = subprocess.run([sys.executable, "-m", "kustodian", "check", "--apiserver",
                           "--no-conftest", "--format", "json", "--output", "out.json", *args],
                          cwd=repo, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    out = repo / "out.json"
    return proc, json.loads(out.read_text())["findings"] if out.exists() else []


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_every_target_of_the_repository_passes_the_api_server(repo):
    proc, findings = check(repo)
    assert proc.returncode in (0, 1), proc.stderr
    assert [f for f in findings if f["source"] == "apiserver"] == []   # (Argo CD's finalizer
    # names draw a warning: exempted, with a reason, on the Argo CD objects)


def test_a_rejection_points_at_the_line_in_the_repository(repo):
    pdb = repo / "base/agent/pdb.yaml"
    edit(pdb, "  maxUnavailable: 1\n", "  maxUnavailable: 1\n  minAvailable: 2\n")
    proc, findings = check(repo, "overlays/prod-canary")
    assert proc.returncode == 1, proc.stderr
    hits = [f for f in findings if f["rule"] == "apiserver-rejected"]
    assert hits, findings
    assert {(f["kind"], f["name"], f["env"]) for f in hits} == {
        ("PodDisruptionBudget", "agent", "prod")}
    assert hits[0]["file"] == "base/agent/pdb.yaml"
    # the server names the field `spec` (both set), or one of the two
    assert hits[0]["line"] in (line_of(pdb, "spec:"), line_of(pdb, "minAvailable"),
                               line_of(pdb, "maxUnavailable"))


def test_missing_binaries_are_a_clear_error_not_a_traceback(repo, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kustodian", "check", "--apiserver",
                           "--no-conftest", "overlays/dev"], cwd=repo, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ,
                               "KUSTODIAN_CLUSTER_CACHE": str(tmp_path / "none")})
    assert proc.returncode == 2
    assert "cluster binaries not built" in proc.stderr and "make cluster" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pr_mode_reports_immutable_field_changes_as_new(repo):
    # the base already has one rejected object: it must come out unchanged, not new
    pdb = repo / "base/agent/pdb.yaml"
    edit(pdb, "  maxUnavailable: 1\n", "  maxUnavailable: 1\n  minAvailable: 2\n")
    commit_all(repo, "a base with a rejected PDB")
    deployment = repo / "base/agent/workload/deployment.yaml"
    edit(deployment, "    matchLabels:\n      app.kubernetes.io/name: agent\n",
         "    matchLabels:\n      app.kubernetes.io/name: agent\n      tier: api\n")
    edit(deployment, "      labels:\n        app.kubernetes.io/name: agent\n",
         "      labels:\n        app.kubernetes.io/name: agent\n        tier: api\n")
    statefulset = repo / "base/redis/statefulset.yaml"
    edit(statefulset, "serviceName: redis-headless", "serviceName: redis")
    service = repo / "base/redis/service.yaml"
    edit(service, "spec:\n  type: ClusterIP\n", "spec:\n  type: ClusterIP\n  clusterIP: None\n")
    commit_all(repo, "change immutable fields")
    proc, findings = check(repo, "--base-ref", "HEAD~1", "overlays/prod")
    assert proc.returncode == 1, proc.stderr
    new = {(f["rule"], f["kind"], f["name"]) for f in findings if f["status"] == "new"}
    assert new == {("immutable-field-change", "Deployment", "agent"),
                   ("immutable-field-change", "StatefulSet", "redis"),
                   ("immutable-field-change", "Service", "redis")}, findings
    by_kind = {f["kind"]: f for f in findings if f["rule"] == "immutable-field-change"}
    assert by_kind["Deployment"]["file"] == "base/agent/workload/deployment.yaml"
    assert by_kind["StatefulSet"]["file"] == "base/redis/statefulset.yaml"
    assert by_kind["Service"]["file"] == "base/redis/service.yaml"
    # each at the line that changed: the server names spec.clusterIPs[0] for the Service
    assert by_kind["Service"]["line"] == line_of(service, "clusterIP: None"), by_kind["Service"]
    assert by_kind["StatefulSet"]["line"] == line_of(statefulset, "serviceName: redis")
    unchanged = {(f["rule"], f["kind"]) for f in findings if f["status"] == "unchanged"}
    assert ("apiserver-rejected", "PodDisruptionBudget") in unchanged
    # the same change on a fresh cluster (no base) is accepted: only the update is refused
    proc, fresh = check(repo, "overlays/prod")
    assert not [f for f in fresh if f["rule"] == "immutable-field-change"]


def test_pr_mode_a_headless_change_points_at_the_field_the_source_writes(repo):
    """Turning a Service headless through `clusterIPs` (the field the API server names): the
    finding is at that line, not at `spec:`."""
    service = repo / "base/redis/service.yaml"
    edit(service, "spec:\n  type: ClusterIP\n",
         'spec:\n  type: ClusterIP\n  clusterIPs: ["None"]\n')
    commit_all(repo, "headless through clusterIPs")
    proc, findings = check(repo, "--base-ref", "HEAD~1", "overlays/dev")
    assert proc.returncode == 1, proc.stderr
    hits = [f for f in findings if f["status"] == "new"]
    assert [(f["kind"], f["name"], f["file"]) for f in hits] == [
        ("Service", "redis", "base/redis/service.yaml")], findings
    assert "clusterIPs" in hits[0]["message"]
    assert hits[0]["line"] == line_of(service, "clusterIPs:"), hits[0]


def test_hostile_target_cannot_hang_or_reach_out(repo):
    """A PR that adds a CRD whose conversion webhook points at another host, and an object
    of it: the API server cannot reach anything from its private network, so the check ends
    with findings instead of waiting; an unknown kind is a finding, not a crash."""
    extra = repo / "overlays/dev/hostile.yaml"
    extra.write_text("""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.evil.example.com
spec:
  group: evil.example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig:
        url: https://10.1.2.3:443/convert
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    - name: v2
      served: true
      storage: false
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: evil.example.com/v2
kind: Widget
metadata: {name: w}
spec: {a: 1}
---
apiVersion: example.com/v1
kind: Unknown
metadata: {name: u}
""")
    edit(repo / "overlays/dev/kustomization.yaml", "resources:\n", "resources:\n  - hostile.yaml\n")
    proc, findings = check(repo, "overlays/dev")
    assert proc.returncode == 1, proc.stderr
    rejected = {(f["kind"], f["name"]) for f in findings if f["rule"] == "apiserver-rejected"}
    assert ("Unknown", "u") in rejected and ("Widget", "w") in rejected, findings
