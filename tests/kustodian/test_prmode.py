"""kustodian.prmode on a real git repository, rendering with the real kustomize.

The check used here is a small stand-in for `kustodian check` written in this test: it renders
each overlay with kustomize and reports containers whose image is not pinned to a tag.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kustodian.errors import KustodianError
from kustodian.model import Finding, Report, Severity
from kustodian.prmode import (
    FsReader,
    affected_overlays,
    affected_overlays_forward,
    classify,
    run_pr_check,
)
from support.cli import commit_all, git, init_repo

FIXTURE = Path(__file__).resolve().parent / "fixtures_pr"
OVERLAYS = ["overlays/dev", "overlays/prod"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root)
    init_repo(root, "base")
    return root


class Checker:
    """Renders overlays with kustomize; one finding per container image without a tag."""

    def __init__(self, kustomize: str) -> None:
        self.kustomize = kustomize
        self.calls: list[tuple[Path, list[str], set[str]]] = []

    def __call__(self, tree: Path, overlays: list[str]) -> Report:
        files = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
        self.calls.append((tree, list(overlays), files))
        report = Report(overlays=list(overlays))
        for overlay in overlays:
            env = overlay.split("/")[-1]
            proc = subprocess.run([self.kustomize, "build", str(tree / overlay)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise KustodianError(f"kustomize build {overlay} failed: {proc.stderr.strip()}")
            report.rendered[overlay] = proc.stdout
            for doc in yaml.safe_load_all(proc.stdout):
                report.resources += 1
                spec = (doc.get("spec") or {}).get("template", {}).get("spec", {})
                for c in spec.get("containers", []):
                    last = c["image"].rsplit("/", 1)[-1]
                    if ":" not in last or last.endswith(":latest"):
                        report.findings.append(Finding(
                            rule="image-tag-pinned", severity=Severity.HIGH,
                            category="supply-chain", env=env, kind=doc["kind"],
                            namespace=doc["metadata"].get("namespace"),
                            name=doc["metadata"]["name"], container=c["name"],
                            file="base/deployment.yaml", line=15, overlay=overlay,
                            message=f"image {c['image']} is not pinned to a tag"))
        return report

    @property
    def base_calls(self) -> list[list[str]]:
        return [overlays for tree, overlays, _ in self.calls if tree.name != "repo"]

    @property
    def head_calls(self) -> list[list[str]]:
        return [overlays for tree, overlays, _ in self.calls if tree.name == "repo"]


@pytest.fixture
def checker(kustomize_bin: str) -> Checker:
    return Checker(kustomize_bin)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_unknown_base_ref_is_a_clear_error(repo, checker):
    with pytest.raises(KustodianError) as err:
        run_pr_check(repo, "origin/nope", OVERLAYS, checker)
    assert "unknown --base-ref 'origin/nope'" in str(err.value)
    assert "fetch" in str(err.value)
    assert checker.calls == []


def test_outside_a_git_repository_is_a_clear_error(tmp_path, checker):
    with pytest.raises(KustodianError, match="git"):
        run_pr_check(tmp_path, "HEAD", OVERLAYS, checker)


def test_change_nobody_reads_affects_nothing(repo, checker):
    (repo / "base" / "README.md").write_text("# changed\n")
    (repo / "notes.txt").write_text("untracked and unrelated\n")
    commit_all(repo, "docs")
    result = run_pr_check(repo, "HEAD~1", OVERLAYS, checker)
    assert result.affected == []
    assert checker.calls == []
    assert result.report.findings == [] and result.fixed == []
    assert "nothing was rendered" in result.markdown


def test_overlay_patch_change_checks_only_that_overlay(repo, checker):
    edit(repo / "overlays/dev/replicas.yaml", "replicas: 1", "replicas: 2")
    commit_all(repo, "dev: 2 replicas")
    result = run_pr_check(repo, "HEAD~1", OVERLAYS, checker)
    assert result.affected == ["overlays/dev"]
    assert checker.base_calls == [["overlays/dev"]] and checker.head_calls == [["overlays/dev"]]
    base_files = checker.calls[0][2]
    assert "overlays/dev/replicas.yaml" in base_files and "base/deployment.yaml" in base_files
    assert not any(f.startswith("overlays/prod/") for f in base_files)
    assert "base/README.md" not in base_files
    assert not checker.calls[0][0].exists()                     # the base tree is cleaned up
    assert "-  replicas: 1" in result.markdown and "+  replicas: 2" in result.markdown
    assert "#### dev" in result.markdown and "**no new findings**" in result.markdown


def test_new_finding_is_new_and_unaffected_overlays_are_not_rendered(repo, checker):
    edit(repo / "overlays/dev/kustomization.yaml", "patches:",
         "images:\n  - name: ghcr.io/acme/agent\n    newTag: latest\npatches:")
    commit_all(repo, "dev: latest")
    result = run_pr_check(repo, "HEAD~1", OVERLAYS, checker)
    assert result.affected == ["overlays/dev"]
    assert [(f.rule, f.env, f.status) for f in result.report.findings] == [
        ("image-tag-pinned", "dev", "new")]
    assert result.fixed == []
    assert "### New findings (1)" in result.markdown
    assert "`base/deployment.yaml:15`" in result.markdown
    assert "Deployment/agent-dev/agent [agent]" in result.markdown
    assert all("overlays/prod" not in call for call in checker.base_calls + checker.head_calls)


def test_fixed_and_unchanged_findings(repo, checker):
    for overlay in ("dev", "prod"):
        edit(repo / f"overlays/{overlay}/kustomization.yaml", "patches:",
             "images:\n  - name: ghcr.io/acme/agent\n    newTag: latest\npatches:")
    commit_all(repo, "both latest")
    edit(repo / "overlays/prod/kustomization.yaml", "newTag: latest", "newTag: 1.2.0")
    edit(repo / "base/deployment.yaml", "replicas: 1", "replicas: 1\n  revisionHistoryLimit: 3")
    commit_all(repo, "prod pinned, base touched")
    result = run_pr_check(repo, "HEAD~1", OVERLAYS, checker)
    assert result.affected == OVERLAYS
    assert [(f.env, f.status) for f in result.report.findings] == [("dev", "unchanged")]
    assert [(f.env, f.status) for f in result.fixed] == [("prod", "fixed")]
    assert "| 0 | 1 | 1 |" in result.markdown
    assert "### Fixed findings (1)" in result.markdown


def test_component_change_affects_only_the_overlays_using_it(repo, checker):
    edit(repo / "components/extra/patch.yaml", 'extra: "true"', 'extra: "yes"')
    commit_all(repo, "component")
    assert run_pr_check(repo, "HEAD~1", OVERLAYS, checker).affected == ["overlays/prod"]


def test_generator_file_change_affects_its_overlay(repo, checker):
    (repo / "overlays/dev/config/app.properties").write_text("log_level=info\n")
    commit_all(repo, "config")
    result = run_pr_check(repo, "HEAD~1", OVERLAYS, checker)
    assert result.affected == ["overlays/dev"]
    assert "log_level=info" in result.markdown


def test_uncommitted_and_untracked_changes_count(repo, checker):
    edit(repo / "overlays/prod/replicas.yaml", "replicas: 3", "replicas: 4")   # not committed
    assert run_pr_check(repo, "HEAD", OVERLAYS, checker).affected == ["overlays/prod"]
    git(repo, "checkout", "--", "overlays/prod/replicas.yaml")
    (repo / "overlays/dev/extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")
    assert run_pr_check(repo, "HEAD", OVERLAYS, checker).affected == []   # nobody reads it yet
    edit(repo / "overlays/dev/kustomization.yaml", "  - ../../base",
         "  - ../../base\n  - extra.yaml")
    assert run_pr_check(repo, "HEAD", OVERLAYS, checker).affected == ["overlays/dev"]


def test_repository_wide_inputs_affect_every_overlay(repo, checker):
    (repo / "policies").mkdir()
    (repo / "policies" / "extra.rego").write_text("package extra\n")
    commit_all(repo, "policy")
    assert run_pr_check(repo, "HEAD~1", OVERLAYS, checker).affected == OVERLAYS


def test_new_overlay_is_checked_at_head_only(repo, checker):
    shutil.copytree(repo / "overlays/dev", repo / "overlays/qa")
    edit(repo / "overlays/qa/kustomization.yaml", "agent-dev", "agent-qa")
    result = run_pr_check(repo, "HEAD", [*OVERLAYS, "overlays/qa"], checker)
    assert result.affected == ["overlays/qa"]
    assert checker.base_calls == [] and checker.head_calls == [["overlays/qa"]]
    assert "+  namespace: agent-qa" in result.markdown


def test_deleted_overlay_findings_are_fixed(repo, checker):
    shutil.copytree(repo / "overlays/dev", repo / "overlays/qa")
    edit(repo / "overlays/qa/kustomization.yaml", "patches:",
         "images:\n  - name: ghcr.io/acme/agent\n    newTag: latest\npatches:")
    commit_all(repo, "qa")
    shutil.rmtree(repo / "overlays/qa")
    commit_all(repo, "drop qa")
    result = run_pr_check(repo, "HEAD~1", OVERLAYS, checker)      # qa is no longer discovered
    assert result.affected == ["overlays/qa"]
    assert checker.base_calls == [["overlays/qa"]] and checker.head_calls == []
    assert [(f.env, f.status) for f in result.fixed] == [("qa", "fixed")]
    assert "-kind: Deployment" in result.markdown


def test_base_branch_progress_is_not_shown_as_a_revert(repo, checker):
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo / "overlays/dev/replicas.yaml", "replicas: 1", "replicas: 2")
    commit_all(repo, "feature: dev")
    git(repo, "checkout", "-q", "main")
    edit(repo / "overlays/prod/replicas.yaml", "replicas: 3", "replicas: 5")
    commit_all(repo, "main: prod moved on")
    git(repo, "checkout", "-q", "feature")
    result = run_pr_check(repo, "main", OVERLAYS, checker)
    assert result.affected == ["overlays/dev"]
    assert "Compared with `main`" in result.markdown


def test_broken_base_counts_everything_as_new(repo, checker):
    edit(repo / "overlays/dev/kustomization.yaml", "  - ../../base", "  - ../../missing")
    commit_all(repo, "broken")
    edit(repo / "overlays/dev/kustomization.yaml", "  - ../../missing",
         "  - ../../base\nimages:\n  - name: ghcr.io/acme/agent\n    newTag: latest")
    result = run_pr_check(repo, "HEAD", OVERLAYS, checker)
    assert [f.status for f in result.report.findings] == ["new"]
    assert "base revision could not be checked" in result.markdown


def test_huge_diffs_are_truncated_to_fit_a_comment(repo, checker):
    big = "".join(f"  key{i}: value-{i}-{'x' * 40}\n" for i in range(6000))
    (repo / "overlays/dev/big.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata:\n{big}")
    edit(repo / "overlays/dev/kustomization.yaml", "  - ../../base", "  - ../../base\n  - big.yaml")
    result = run_pr_check(repo, "HEAD", OVERLAYS, checker)
    assert "Diff truncated" in result.markdown
    assert len(result.markdown) < 65_536


def test_classify_counts_duplicates():
    def finding(name: str) -> Finding:
        return Finding(rule="r", severity=Severity.LOW, category="hygiene", message="m", name=name)

    head = Report(findings=[finding("a"), finding("a"), finding("b")])
    base = Report(findings=[finding("a"), finding("c")])
    report, fixed = classify(head, base)
    assert [(f.name, f.status) for f in report.findings] == [
        ("a", "unchanged"), ("a", "new"), ("b", "new")]
    assert [(f.name, f.status) for f in fixed] == [("c", "fixed")]
    assert head.findings[0].status is None                       # the input is not modified


def _every_file(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and ".git" not in p.parts)


@pytest.mark.parametrize("tree", ["fixture", "generated"])
def test_backward_search_agrees_with_forward_closure(tree, repo, tmp_path, repo_root):
    """For a change of any single file, the fast search finds exactly the overlays whose
    full kustomization closure holds that file."""
    if tree == "fixture":
        root, overlays = repo, OVERLAYS
    else:
        root = tmp_path / "mono"
        subprocess.run([sys.executable, str(repo_root / "bench/gen_monorepo.py"), "--apps", "3",
                        "--out", str(root)], check=True, capture_output=True)
        overlays = sorted(p.parent.relative_to(root).as_posix()
                          for p in root.glob("overlays/*/*/kustomization.yaml"))
        assert len(overlays) >= 12
    head = FsReader(root)
    dirs = sorted(p.parent.relative_to(root).as_posix()
                  for p in root.rglob("kustomization.yaml"))
    some_affected = 0
    for path in _every_file(root):
        if path.startswith("policies/") or path in (".kustodian.yaml", "Dockerfile"):
            continue
        fast = affected_overlays(overlays, {path}, head, dirs)
        assert fast == affected_overlays_forward(overlays, {path}, head), path
        some_affected += bool(fast)
    assert some_affected > len(overlays)


def test_deleted_component_still_marks_its_users(repo):
    shutil.rmtree(repo / "components/extra")
    changed = {"components/extra/kustomization.yaml", "components/extra/patch.yaml"}
    dirs = ["base", "overlays/dev", "overlays/prod"]
    assert affected_overlays(OVERLAYS, changed, FsReader(repo), dirs) == ["overlays/prod"]
    assert affected_overlays_forward(OVERLAYS, changed, FsReader(repo)) == ["overlays/prod"]


def test_repository_in_a_subdirectory_of_the_git_work_tree(tmp_path, checker):
    top = tmp_path / "mono"
    shutil.copytree(FIXTURE, top / "deploy")
    (top / "README.md").write_text("top\n")
    init_repo(top, "base")
    root = top / "deploy"
    edit(root / "overlays/prod/replicas.yaml", "replicas: 3", "replicas: 4")
    (top / "README.md").write_text("outside the repository root: ignored\n")
    result = run_pr_check(root, "HEAD", [str(root / "overlays/prod"), "overlays/dev/"], checker)
    assert result.affected == ["overlays/prod"]
    base_files = checker.calls[0][2]
    assert "overlays/prod/replicas.yaml" in base_files and "base/deployment.yaml" in base_files
    assert "-  replicas: 3" in result.markdown and "+  replicas: 4" in result.markdown


def test_deleted_app_with_all_its_overlays_is_found(repo, checker):
    """Nested overlays (overlays/<app>/<env>) deleted together are all found, the deleted
    Component is not taken for an overlay."""
    for env in ("dev", "prod"):
        shutil.copytree(repo / f"overlays/{env}", repo / f"overlays/billing/{env}")
        edit(repo / f"overlays/billing/{env}/kustomization.yaml", "../../base", "../../../base")
    edit(repo / "overlays/billing/prod/kustomization.yaml", "../../components",
         "../../../components")
    commit_all(repo, "billing app")
    shutil.rmtree(repo / "overlays/billing")
    commit_all(repo, "drop billing")
    result = run_pr_check(repo, "HEAD~1", OVERLAYS, checker)
    assert result.affected == ["overlays/billing/dev", "overlays/billing/prod"]
    assert checker.base_calls == [["overlays/billing/dev", "overlays/billing/prod"]]
    assert checker.head_calls == []
