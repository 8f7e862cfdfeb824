"""Relative references in a kustomization reached through a symlinked dir resolve from the
dir's real path, as kustomize resolves them (it builds the real path of the kustomization
dir) and Argo CD with it. Discovery and PR mode's input closure must do the same, else a
link can hide a target from discovery, or a change from PR mode."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support.cli import REPO_ROOT, check_json, commit_all, git, init_repo, write_tree

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
    - name: {name}
      image: ghcr.io/acme/{name}:1.0@sha256:{digest}
{extra}"""
PRIVILEGED = "      securityContext: {privileged: true}\n"


def pod(name: str, extra: str = "") -> str:
    return POD.format(name=name, digest="ab" * 32, extra=extra)


def kustomization(*resources: str) -> str:
    return "resources:\n" + "".join(f"- {r}\n" for r in resources)


def link(repo: Path, rel: str, target: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, repo / rel)


def check(repo: Path, *args: str) -> tuple[int, list[dict], str]:
    code, report, err = check_json(repo, *args)
    return code, report.get("findings", []), err


def privileged(findings: list[dict], status: str | None = None) -> list[dict]:
    return [f for f in findings if f["rule"] == "no-privileged"
            and (status is None or f["status"] == status)]


def kustomize_build(repo: Path, rel: str) -> str:
    return subprocess.run([str(REPO_ROOT / ".bin/kustomize"), "build", rel], cwd=repo,
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = write_tree(tmp_path / "repo", {".kustodian.yaml": "environments: {order: [dev, "
                                                             "prod]}\n"})
    init_repo(root)
    git(root, "checkout", "-q", "-b", "pr")
    return root


def test_a_link_cannot_pass_a_target_off_as_included(repo):
    """`overlays/prod-mirror -> ../mirror/prod` names `../dev-debug`: kustomize reads
    `mirror/dev-debug` (harmless). Resolved from the link's path it would be
    `overlays/dev-debug`, a privileged overlay nothing else includes: it must stay a target."""
    write_tree(repo, {
        "mirror/prod/kustomization.yaml": kustomization("../dev-debug"),
        "mirror/dev-debug/kustomization.yaml": kustomization("pod.yaml"),
        "mirror/dev-debug/pod.yaml": pod("web"),
        "overlays/dev-debug/kustomization.yaml": kustomization("pod.yaml"),
        "overlays/dev-debug/pod.yaml": pod("debug", PRIVILEGED),
    })
    link(repo, "overlays/prod-mirror", "../mirror/prod")
    commit_all(repo, "a mirror")
    rendered = kustomize_build(repo, "overlays/prod-mirror")
    assert "name: web" in rendered and "privileged" not in rendered   # kustomize: real path
    code, findings, err = check(repo)
    assert code == 1 and privileged(findings), (err, findings)
    assert privileged(findings)[0]["file"] == "overlays/dev-debug/pod.yaml"
    code, findings, err = check(repo, "--base-ref", "main", "--new-only")
    assert code == 1 and privileged(findings, "new"), (err, findings)


def test_pr_editing_a_file_reached_only_through_a_link(repo):
    """`overlays/prod -> ../vendor/app/prod` (vendor/ is ignored: the link is the only
    target) names `../pod`, i.e. `vendor/app/pod`. A second PR edits only that pod."""
    (repo / ".kustodian.yaml").write_text((repo / ".kustodian.yaml").read_text()
                                          + "ignore:\n  - {path: vendor/**, reason: vendored}\n")
    write_tree(repo, {
        "vendor/app/prod/kustomization.yaml": kustomization("../pod"),
        "vendor/app/pod/kustomization.yaml": kustomization("pod.yaml"),
        "vendor/app/pod/pod.yaml": pod("web"),
    })
    link(repo, "overlays/prod", "../vendor/app/prod")
    commit_all(repo, "vendored app behind a link")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "pr")
    git(repo, "checkout", "-q", "pr")
    code, findings, err = check(repo)
    assert not privileged(findings), findings
    (repo / "vendor/app/pod/pod.yaml").write_text(pod("web", PRIVILEGED))
    commit_all(repo, "only the pod behind the link")
    assert "privileged: true" in kustomize_build(repo, "overlays/prod")
    code, findings, err = check(repo)
    assert code == 1 and privileged(findings), (err, findings)
    code, findings, err = check(repo, "--base-ref", "main", "--new-only")
    assert code == 1 and privileged(findings, "new"), (err, findings)
    assert {f["overlay"] for f in privileged(findings, "new")} == {"overlays/prod"}
    # the base side rendered through the link too: what did not change is not new
    assert [f["rule"] for f in findings if f["status"] == "new"] == ["no-privileged"], findings
    assert any(f["status"] == "unchanged" for f in findings), findings
