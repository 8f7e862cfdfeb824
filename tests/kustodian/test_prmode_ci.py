"""The CI and pre-commit wiring of the PR gate: .github/workflows/pr.yaml and
.pre-commit-config.yaml, run for real where they can be (the gate step's script against a
temp repo with an `origin` remote; the pre-commit hooks through the real pre-commit)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from support.cli import commit_all, git, init_repo

FIXTURE = Path(__file__).resolve().parent / "fixtures_pr"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def workflow(repo_root: Path) -> dict:
    return yaml.safe_load((repo_root / ".github/workflows/pr.yaml").read_text())


def steps_of(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def gate_step(workflow: dict) -> dict:
    return next(s for s in steps_of(workflow, "gate") if s.get("id") == "gate")


def test_workflow_runs_on_pull_requests_with_full_history(workflow):
    triggers = workflow.get("on") or workflow.get(True)        # YAML 1.1 reads `on` as True
    assert "pull_request_target" in triggers                  # the base branch's workflow
    gate, head = steps_of(workflow, "gate")[:2]
    assert gate["uses"].startswith("actions/checkout@") and gate["with"]["path"] == "gate"
    assert head["uses"].startswith("actions/checkout@") and head["with"]["path"] == "pr"
    assert head["with"]["fetch-depth"] == 0
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["gate"]["permissions"] == {
        "contents": "read", "security-events": "write", "pull-requests": "write"}


def test_every_action_is_pinned_by_commit_sha(repo_root):
    uses = []
    for path in sorted((repo_root / ".github/workflows").glob("*.yaml")):
        wf = yaml.safe_load(path.read_text())
        uses += [s["uses"] for job in wf["jobs"].values() for s in job["steps"] if "uses" in s]
    assert len(uses) >= 8
    assert [u for u in uses if not SHA_PIN.match(u)] == []


def test_gate_sarif_comment_and_tests_are_wired_together(workflow, repo_root):
    gate = gate_step(workflow)
    script = gate["run"]
    assert gate["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert ('gate/.venv/bin/kustodian check --root pr --base-ref "origin/${BASE_REF}" '
            '--format sarif --output kustodian.sarif --summary summary.md') in script
    steps = steps_of(workflow, "gate")
    upload = next(s for s in steps if "upload-sarif" in s.get("uses", ""))
    assert upload["with"]["sarif_file"] == "kustodian.sarif"
    assert upload["with"]["checkout_path"].endswith("/pr")
    assert "always()" in upload["if"]
    comment = next(s for s in steps if "github-script" in s.get("uses", ""))
    assert "summary.md" in comment["with"]["script"]
    assert "updateComment" in comment["with"]["script"]        # one sticky comment
    last = steps[-1]
    assert "steps.gate.outputs.status" in last["if"] and 'exit "${STATUS}"' in last["run"]
    setups = [s["run"] for s in steps if "setup" in str(s.get("run", ""))]
    assert setups == ["make -C gate setup"]
    tests = yaml.safe_load((repo_root / ".github/workflows/test.yaml").read_text())
    assert (tests.get("on") or tests.get(True)) == {"pull_request": {"branches": ["main"]}}
    assert any(s.get("run") == "make test" for s in tests["jobs"]["test"]["steps"])
    python = next(s for s in steps if "setup-python" in s.get("uses", ""))
    assert python["with"]["python-version"] == "${{ env.PYTHON_VERSION }}"
    assert workflow["env"]["PYTHON_VERSION"] == "3.11"


@pytest.fixture
def clone(tmp_path: Path, repo_root: Path) -> Path:
    """A PR checkout: `origin/main` is the base, the feature branch adds a commit later."""
    origin = tmp_path / "origin"
    shutil.copytree(FIXTURE, origin)
    shutil.copytree(repo_root / "policies", origin / "policies")
    shutil.copytree(repo_root / "tools/hooks", origin / "tools/hooks")
    shutil.copy(repo_root / ".pre-commit-config.yaml", origin / ".pre-commit-config.yaml")
    (origin / ".gitignore").write_text(".venv\nkustodian.sarif\nsummary.md\n")
    init_repo(origin, "base")
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    git(work, "config", "user.email", "test@example.com")
    git(work, "config", "user.name", "test")
    git(work, "checkout", "-q", "-b", "feature")
    (work / ".venv").symlink_to(repo_root / ".venv")
    return work


def _workspace(work: Path, tmp_path: Path, repo_root: Path) -> Path:
    """The runner's workspace as the workflow lays it out: the gate in gate/ (here: this
    repository, with its venv and tools), the pull request in pr/."""
    workspace = tmp_path / "workspace"
    if not workspace.exists():
        workspace.mkdir()
        (workspace / "gate").symlink_to(repo_root)
        (workspace / "pr").symlink_to(work)
    return workspace


def _run_gate_step(workflow: dict, work: Path, tmp_path: Path) -> tuple[int, str, str]:
    output, summary = tmp_path / "gh-output", tmp_path / "gh-summary"
    output.unlink(missing_ok=True)
    summary.unlink(missing_ok=True)
    env = {**os.environ, "BASE_REF": "main", "GITHUB_OUTPUT": str(output),
           "GITHUB_STEP_SUMMARY": str(summary)}
    workspace = _workspace(work, tmp_path, Path(__file__).resolve().parents[2])
    proc = subprocess.run(["bash", "-e", "-c", gate_step(workflow)["run"]], cwd=workspace,
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr          # the step itself never fails the job
    status = re.search(r"^status=(\d+)$", output.read_text(), re.MULTILINE)
    assert status, output.read_text()
    return int(status.group(1)), summary.read_text(), proc.stderr


def test_gate_step_script_runs_for_real(workflow, clone, tmp_path):
    kustomization = clone / "overlays/dev/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "images:\n  - name: ghcr.io/acme/agent\n"
                             "    newName: docker.io/library/agent\n    newTag: \"1.0\"\n")
    commit_all(clone, "dev from docker hub")
    status, job_summary, stderr = _run_gate_step(workflow, clone, tmp_path)
    assert status == 1, stderr
    assert "Compared with `origin/main`" in job_summary
    assert "`allowed-registries`" in job_summary
    sarif = (tmp_path / "workspace/kustodian.sarif").read_text()
    assert '"version": "2.1.0"' in sarif and "allowed-registries" in sarif

    kustomization.write_text(kustomization.read_text().replace("docker.io/library/agent",
                                                               "ghcr.io/acme/agent"))
    commit_all(clone, "back on ghcr")
    status, job_summary, stderr = _run_gate_step(workflow, clone, tmp_path)
    assert status == 0, stderr + job_summary


def _precommit_all(work: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    pre_commit = Path(os.path.realpath(work / ".venv")) / "bin" / "pre-commit"
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    return subprocess.run([str(pre_commit), "run"], cwd=work, env=env, capture_output=True,
                          text=True)


def test_pre_commit_hooks_gate_staged_changes(clone, tmp_path):
    (clone / "base/README.md").write_text("# nothing the gate reads\n")
    git(clone, "add", "base/README.md")
    proc = _precommit_all(clone, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"kustodian check.*Passed", proc.stdout)   # base/ matched: ran, no overlay
    assert re.search(r"conftest verify.*Skipped", proc.stdout)  # no policies/ change

    kustomization = clone / "overlays/prod/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "images:\n  - name: ghcr.io/acme/agent\n"
                             "    newName: quay.io/acme/agent\n    newTag: \"1.0\"\n")
    git(clone, "add", "overlays/prod/kustomization.yaml")
    proc = _precommit_all(clone, tmp_path)
    assert proc.returncode == 1
    assert re.search(r"kustodian check.*Failed", proc.stdout)
    assert "allowed-registries" in proc.stdout


def test_pre_commit_config_covers_the_gate_inputs(repo_root):
    config = yaml.safe_load((repo_root / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    # any file can be a gate input (a kustomization anywhere, a configMapGenerator file, a
    # plain manifest): the hook runs on every change, PR mode then picks what it affects
    pattern = re.compile(hooks["kustodian-check"].get("files", ""))
    for path in ("base/agent/deployment.yaml", "overlays/prod/kustomization.yaml",
                 "components/canary/route.yaml", "argocd/appset.yaml", "policies/data.yaml",
                 "Dockerfile", ".kustodian.yaml", "deploy/debug/kustomization.yaml",
                 "apps/agent/src/agent/app.py", "README.md"):
        assert pattern.search(path), path
    for hook in hooks.values():
        entry = repo_root / hook["entry"]
        assert entry.is_file() and os.access(entry, os.X_OK)
