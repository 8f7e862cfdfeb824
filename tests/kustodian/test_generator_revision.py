"""An ApplicationSet git generator is evaluated at its `revision`, as Argo CD evaluates it:
the tree under check for the revision under check (HEAD, the current branch, in PR mode the
branch the PR merges into), that commit of the clone for another local ref, and an
`argocd-source-unrendered` finding for a revision the clone does not hold. A generator
pointed at a branch or tag other than the one under check (a branch the PR's author can
push to) is an `argocd-generator-revision` finding, in full and in PR mode."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.cli import check_json as check
from support.cli import commit_all, git, init_repo, write_tree

URL = "https://github.com/acme/tools.git"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: ghcr.io/acme/{name}:1.0@sha256:{digest}
""".replace("{digest}", "ab" * 32)


def appset(generator: str) -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n"
            f"  name: tools\n  namespace: argocd\nspec:\n  generators:\n{generator}"
            "  template:\n    metadata:\n      name: 'gen-{{path.basename}}'\n"
            f"    spec:\n      project: default\n      source:\n        repoURL: {URL}\n"
            "        path: '{{path}}'\n      destination:\n"
            "        server: https://kubernetes.default.svc\n        namespace: tools-prod\n")


def directories(revision: str) -> str:
    return (f"    - git:\n        repoURL: {URL}\n        revision: {revision}\n"
            "        directories:\n          - path: tools/*\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """tools/web deployed by a git-directories ApplicationSet at HEAD, on main; the work
    tree on branch `pr`."""
    root = write_tree(tmp_path / "tools-repo", {
        ".kustodian.yaml": f"repoURLs: [{URL}]\n",
        "appset.yaml": appset(directories("HEAD")),
        "tools/web/deployment.yaml": DEPLOYMENT.format(name="web"),
    })
    init_repo(root)
    git(root, "checkout", "-q", "-b", "pr")
    return root


def targets(report: dict) -> set[str]:
    return {t["target"] for t in report["summary"]["targets"]}


def rules(report: dict, status: str | None = None) -> list[str]:
    return [f["rule"] for f in report["findings"] if status is None or f["status"] == status]


def set_revision(repo: Path, revision: str) -> None:
    path = repo / "appset.yaml"
    path.write_text(re.sub(r"revision: \S+", f"revision: {revision}", path.read_text()))


ARGOCD_RULES = {"argocd-generator-revision", "argocd-source-unrendered"}


def test_head_and_the_branch_under_check_read_the_tree(repo):
    """A dir the PR adds is generated whether the generator says HEAD, or the branch the PR
    merges into (PR mode) or the checked-out branch (full mode)."""
    write_tree(repo, {"tools/api/deployment.yaml": DEPLOYMENT.format(name="api")})
    commit_all(repo, "a new tool")
    code, report, err = check(repo)
    assert code in (0, 1) and "tools/api@gen-api" in targets(report), err
    assert not ARGOCD_RULES & set(rules(report))
    set_revision(repo, "pr")                         # the current branch, in a full check
    commit_all(repo, "revision: pr")
    code, report, err = check(repo)
    assert code in (0, 1) and "tools/api@gen-api" in targets(report), err
    assert not ARGOCD_RULES & set(rules(report))
    set_revision(repo, "main")
    commit_all(repo, "revision: main")
    code, report, err = check(repo, "--base-ref", "main", "--new-only")
    assert code in (0, 1) and "tools/api@gen-api" in targets(report), err
    assert not ARGOCD_RULES & set(rules(report))


def test_another_local_ref_is_read_at_its_commit(repo):
    """A tag: the dirs are those of the tagged commit, not of the work tree; and the tag is
    a ref the check does not guard."""
    git(repo, "tag", "v1")
    write_tree(repo, {"tools/api/deployment.yaml": DEPLOYMENT.format(name="api")})
    set_revision(repo, "v1")
    commit_all(repo, "generate at v1")
    code, report, err = check(repo)
    assert "tools/web@gen-web" in targets(report), err
    assert "tools/api@gen-api" not in targets(report)
    hits = [f for f in report["findings"] if f["rule"] == "argocd-generator-revision"]
    assert code == 1 and hits, (err, rules(report))
    assert hits[0]["file"] == "appset.yaml" and hits[0]["kind"] == "ApplicationSet"
    assert "'v1' (a tag" in hits[0]["message"]


def test_a_pinned_commit_is_read_and_not_reported(repo):
    sha = git(repo, "rev-parse", "HEAD").strip()
    write_tree(repo, {"tools/api/deployment.yaml": DEPLOYMENT.format(name="api")})
    set_revision(repo, sha)
    commit_all(repo, "generate at a pinned commit")
    code, report, err = check(repo)
    assert code in (0, 1) and not ARGOCD_RULES & set(rules(report)), err
    assert "tools/web@gen-web" in targets(report)
    assert "tools/api@gen-api" not in targets(report)


@pytest.mark.parametrize("branch", ["feature", "pr"], ids=["author-branch", "pr-branch"])
def test_hostile_pr_points_the_generator_at_a_branch_it_controls(repo, branch):
    """The PR leaves the tree alone and moves prod's generator onto a branch its author can
    push to later (its own branch included): a new finding in PR mode, and in full mode."""
    git(repo, "branch", "feature", "main")
    set_revision(repo, branch)
    commit_all(repo, f"revision: {branch}")
    code, report, err = check(repo, "--base-ref", "main", "--new-only")
    hits = [f for f in report["findings"] if f["rule"] == "argocd-generator-revision"]
    assert code == 1 and hits and hits[0]["status"] == "new", (err, rules(report))
    assert f"'{branch}' (a branch" in hits[0]["message"]
    assert "decides which Applications Argo CD generates" in hits[0]["message"]
    git(repo, "checkout", "-q", "--detach")         # a full check elsewhere than on `pr`
    code, report, err = check(repo)
    assert code == 1 and "argocd-generator-revision" in rules(report), (err, rules(report))


def test_a_revision_the_clone_does_not_hold_is_a_finding(repo):
    set_revision(repo, "release-9")
    commit_all(repo, "revision: release-9")
    for args in ((), ("--base-ref", "main", "--new-only")):
        code, report, err = check(repo, *args)
        hits = [f for f in report["findings"] if f["rule"] == "argocd-source-unrendered"]
        assert code == 1 and hits, (args, err, rules(report))
        assert "revision 'release-9'" in hits[0]["message"]
        assert "cannot read offline" in hits[0]["message"]
        assert hits[0]["file"] == "appset.yaml"
        assert "tools/web@gen-web" not in targets(report)
