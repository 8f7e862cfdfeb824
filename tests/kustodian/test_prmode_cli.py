"""`kustodian check --base-ref` end to end: the real CLI on a temp git repository, rendering
with the real kustomize and running the shipped Rego through the real conftest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.cli import Run, commit_all, init_repo, kustodian

FIXTURE = Path(__file__).resolve().parent / "fixtures_pr"


def pr_check(repo: Path, *extra: str) -> tuple[Run, dict, str]:
    proc = kustodian("check", "--base-ref", "HEAD~1", "--summary", "out.md", "--format", "json",
                     "--output", "out.json", *extra, cwd=repo)
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads((repo / "out.json").read_text()) if (repo / "out.json").exists() else {}
    summary = (repo / "out.md").read_text() if (repo / "out.md").exists() else ""
    return proc, report, summary


def statuses(report: dict, status: str) -> list[tuple[str, str]]:
    return sorted((f["rule"], f["env"]) for f in report["findings"] if f["status"] == status)


@pytest.fixture
def repo(tmp_path: Path, repo_root: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root)
    shutil.copytree(repo_root / "policies", root / "policies")
    (root / ".gitignore").write_text("out.md\nout.json\n")
    init_repo(root, "base")
    return root


def use_registry(repo: Path, overlay: str, image: str) -> None:
    """Point the overlay's agent image at `image`, pinned by tag and digest."""
    path = repo / overlay / "kustomization.yaml"
    path.write_text(path.read_text() + f"images:\n  - name: ghcr.io/acme/agent\n"
                                       f"    newName: {image}\n    newTag: \"1.0\"\n"
                                       f"    digest: sha256:{'ab' * 32}\n")


def test_new_conftest_finding_fails_new_only_and_other_overlays_are_not_rendered(repo):
    use_registry(repo, "overlays/dev", "docker.io/library/agent")
    commit_all(repo, "dev from docker hub")
    proc, report, summary = pr_check(repo, "--new-only")
    assert proc.returncode == 1, proc.stderr
    assert statuses(report, "new") == [("allowed-registries", "dev")]
    assert statuses(report, "unchanged")                        # the fixture's base posture
    assert report["summary"]["overlays"] == ["overlays/dev"]    # prod was not rendered
    assert all(f["env"] == "dev" for f in report["findings"])
    new = next(f for f in report["findings"] if f["status"] == "new")
    assert new["source"] == "conftest" and new["file"] and new["line"]
    assert "### New findings (1)" in summary and "`allowed-registries`" in summary
    assert "+      - image: docker.io/library/agent:1.0@sha256:abab" in summary


def test_change_without_new_findings_passes_new_only_only(repo):
    path = repo / "overlays/dev/replicas.yaml"
    path.write_text(path.read_text().replace("replicas: 1", "replicas: 2"))
    commit_all(repo, "dev: 2 replicas")
    proc, report, summary = pr_check(repo, "--new-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert statuses(report, "new") == []
    assert statuses(report, "unchanged")
    assert "**no new findings**" in summary and "+  replicas: 2" in summary
    proc, report, _ = pr_check(repo)                            # without --new-only
    assert proc.returncode == 1
    assert all(f["status"] == "unchanged" for f in report["findings"])


def test_fixed_finding_is_listed(repo):
    use_registry(repo, "overlays/prod", "quay.io/acme/agent")
    commit_all(repo, "prod from quay")
    path = repo / "overlays/prod/kustomization.yaml"
    path.write_text(path.read_text().replace("quay.io/acme/agent", "ghcr.io/acme/agent"))
    commit_all(repo, "prod back on ghcr")
    proc, report, summary = pr_check(repo, "--new-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["summary"]["overlays"] == ["overlays/prod"]
    assert "### Fixed findings (1)" in summary
    assert "quay.io/acme/agent" in summary


def test_unrelated_change_renders_nothing(repo):
    (repo / "base/README.md").write_text("# reworded\n")
    commit_all(repo, "docs")
    proc, report, summary = pr_check(repo, "--new-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["findings"] == [] and report["summary"]["overlays"] == []
    assert "nothing was rendered" in summary


def test_unknown_base_ref_is_a_usage_error(repo):
    proc = kustodian("check", "--base-ref", "origin/does-not-exist", "--summary", "out.md",
                     cwd=repo)
    assert proc.returncode == 2
    assert "unknown --base-ref 'origin/does-not-exist'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (repo / "out.md").exists()


def test_dockerfile_findings_keep_their_identity_across_revisions(repo):
    (repo / "Dockerfile").write_text("FROM python:3.11-slim\nUSER root\n")
    commit_all(repo, "a Dockerfile with problems")
    path = repo / "overlays/dev/replicas.yaml"
    path.write_text(path.read_text().replace("replicas: 1", "replicas: 2"))
    commit_all(repo, "dev: 2 replicas")
    proc, report, summary = pr_check(repo, "--new-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    docker = [f for f in report["findings"] if f["rule"].startswith("dockerfile-")]
    assert {(f["rule"], f["file"], f["line"], f["status"]) for f in docker} == {
        ("dockerfile-pinned-base-image", "Dockerfile", 1, "unchanged"),
        ("dockerfile-healthcheck", "Dockerfile", 1, "unchanged"),
        ("dockerfile-non-root-user", "Dockerfile", 2, "unchanged"),
    }
    (repo / "Dockerfile").write_text("FROM python:3.11-slim\nUSER 10001\n")
    commit_all(repo, "non-root")
    proc, report, summary = pr_check(repo, "--new-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "### Fixed findings (1)" in summary and "`dockerfile-non-root-user`" in summary
