"""An Argo CD Application source of this repository deploys its `targetRevision`: the
revision under check (HEAD, the checked commit, the current branch in a full check, the
branch the PR merges into in PR mode) renders the checked tree; a branch or tag other than
it is an `argocd-target-revision` finding (whoever can move it decides what Argo CD
deploys; its current commit is rendered too, see test_revision_trees); a revision the clone
does not hold is an `argocd-source-unrendered` finding. Each
hostile change is checked in full mode and in PR mode."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.cli import check_json as check
from support.cli import commit_all, copy_checkout, git, init_repo, write_tree

URL = "https://github.com/acme/shop.git"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:1.0@sha256:%s
""" % ("ab" * 32)
APPLICATION = f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-prod
  namespace: argocd
  labels: {{kustodian.io/env: prod}}
spec:
  project: default
  source:
    repoURL: {URL}
    path: web
    targetRevision: HEAD
  destination:
    server: https://kubernetes.default.svc
    namespace: web-prod
"""
MULTI = f"""\
  sources:
    - repoURL: {URL}
      path: web
      targetRevision: HEAD
    - repoURL: {URL}
      path: extra
      targetRevision: HEAD
"""
ARGOCD_RULES = {"argocd-target-revision", "argocd-source-unrendered"}
PR = ("--base-ref", "main", "--new-only")


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    """The test's own copy of `template`."""
    return copy_checkout(template, tmp_path / "shop")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """web deployed to prod by an Application at HEAD, on main; the work tree on `pr`
    (never changed, see `repo`)."""
    root = write_tree(tmp_path_factory.mktemp("target-revision") / "shop", {
        ".kustodian.yaml": f"repoURLs: [{URL}]\n",
        "app.yaml": APPLICATION,
        "web/deployment.yaml": DEPLOYMENT,
        "extra/deployment.yaml": DEPLOYMENT.replace("name: web\n", "name: extra\n"),
    })
    init_repo(root)
    git(root, "checkout", "-q", "-b", "pr")
    return root


def findings(report: dict, rule: str) -> list[dict]:
    return [f for f in report["findings"] if f["rule"] == rule]


def rules(report: dict) -> set[str]:
    return {f["rule"] for f in report["findings"]}


def set_revision(repo: Path, revision: str, index: int = 0) -> None:
    path = repo / "app.yaml"
    found = list(re.finditer(r"targetRevision: \S+", path.read_text()))[index]
    text = path.read_text()
    path.write_text(text[:found.start()] + f"targetRevision: {revision}" + text[found.end():])


def both_modes(repo: Path) -> list[tuple[tuple[str, ...], int, dict, str]]:
    """The check in PR mode (on `pr`), then in full mode (detached: not on a branch)."""
    out = []
    code, report, err = check(repo, *PR)
    out.append((PR, code, report, err))
    git(repo, "checkout", "-q", "--detach")
    code, report, err = check(repo)
    out.append(((), code, report, err))
    return out


def test_the_revision_under_check_is_no_finding(repo):
    """HEAD, the current branch (full mode) and the branch the PR merges into (PR mode)."""
    code, report, err = check(repo)
    assert code in (0, 1) and not ARGOCD_RULES & rules(report), (err, rules(report))
    set_revision(repo, "pr")
    commit_all(repo, "targetRevision: pr")
    code, report, err = check(repo)
    assert code in (0, 1) and not ARGOCD_RULES & rules(report), (err, rules(report))
    set_revision(repo, "main")
    commit_all(repo, "targetRevision: main")
    code, report, err = check(repo, *PR)
    assert code in (0, 1) and not ARGOCD_RULES & rules(report), (err, rules(report))


@pytest.mark.parametrize("branch", ["feature", "pr"], ids=["author-branch", "pr-branch"])
def test_hostile_pr_points_prod_at_a_branch_it_controls(repo, branch):
    git(repo, "branch", "feature", "main")
    set_revision(repo, branch)
    commit_all(repo, f"targetRevision: {branch}")
    for args, code, report, err in both_modes(repo):
        hits = findings(report, "argocd-target-revision")
        assert code == 1 and hits, (args, err, rules(report))
        assert hits[0]["severity"] == "high" and hits[0]["file"] == "app.yaml"
        assert hits[0]["kind"] == "Application" and hits[0]["name"] == "web-prod"
        assert f"'{branch}' (a branch" in hits[0]["message"]
        assert "whoever can move that branch decides what Argo CD deploys" in \
            hits[0]["message"]
        if args:
            assert hits[0]["status"] == "new"


def test_a_tag_is_a_finding(repo):
    git(repo, "tag", "v1", "main")
    set_revision(repo, "v1")
    commit_all(repo, "targetRevision: v1")
    for args, code, report, err in both_modes(repo):
        hits = findings(report, "argocd-target-revision")
        assert code == 1 and hits, (args, err, rules(report))
        assert "'v1' (a tag" in hits[0]["message"]


def test_a_revision_the_clone_does_not_hold_is_unrendered(repo):
    set_revision(repo, "release-9")
    commit_all(repo, "targetRevision: release-9")
    for args, code, report, err in both_modes(repo):
        hits = findings(report, "argocd-source-unrendered")
        assert code == 1 and hits, (args, err, rules(report))
        assert "revision 'release-9'" in hits[0]["message"]
        assert "cannot read offline" in hits[0]["message"]
        assert hits[0]["name"] == "web-prod" and hits[0]["file"] == "app.yaml"
        assert not findings(report, "argocd-target-revision")
        assert not any(t["target"].startswith("web@") for t in report["summary"]["targets"])


def test_a_pinned_commit_other_than_the_checked_one_is_rendered_not_reported(repo):
    """A pinned commit cannot move, and the gate renders that commit's tree (see
    test_revision_trees): it is judged exactly, so it is no argocd-target-revision."""
    sha = git(repo, "rev-parse", "main").strip()
    set_revision(repo, sha)
    commit_all(repo, "targetRevision: a pinned sha")
    for args, code, report, err in both_modes(repo):
        assert code == 1 and not ARGOCD_RULES & rules(report), (args, err, rules(report))
        targets = {t["target"] for t in report["summary"]["targets"]}
        assert f"web@web-prod at {sha[:12]}" in targets, (args, targets)


def test_a_second_source_at_a_branch_is_a_finding(repo):
    git(repo, "branch", "feature", "main")
    path = repo / "app.yaml"
    path.write_text(re.sub(r"  source:\n(    .*\n)+", MULTI, path.read_text()))
    commit_all(repo, "two sources")
    code, report, err = check(repo)
    assert code in (0, 1) and not ARGOCD_RULES & rules(report), (err, rules(report))
    set_revision(repo, "feature", index=1)
    commit_all(repo, "second source at feature")
    for args, code, report, err in both_modes(repo):
        hits = findings(report, "argocd-target-revision")
        assert code == 1 and len(hits) == 1, (args, err, rules(report))
        assert "source 1 deploys revision 'feature'" in hits[0]["message"]
        assert hits[0]["field_path"] in (["spec", "sources", 1, "targetRevision"],
                                         "spec.sources[1].targetRevision"), hits[0]


def test_deploy_branch_stands_for_the_tree_in_a_full_check_only(repo):
    """`deployBranch: main` in .kustodian.yaml: a full check on another branch checks what
    main becomes once merged. A PR cannot name its own branch there: PR mode reads the
    configuration of the base, and the PR's own branch stays a finding."""
    set_revision(repo, "main")
    commit_all(repo, "targetRevision: main")
    code, report, err = check(repo)
    assert findings(report, "argocd-target-revision"), (err, rules(report))
    (repo / ".kustodian.yaml").write_text(f"repoURLs: [{URL}]\ndeployBranch: main\n")
    code, report, err = check(repo)
    assert code in (0, 1) and not ARGOCD_RULES & rules(report), (err, rules(report))
    set_revision(repo, "pr")
    (repo / ".kustodian.yaml").write_text(f"repoURLs: [{URL}]\ndeployBranch: pr\n")
    commit_all(repo, "deploy from pr")
    code, report, err = check(repo, *PR)
    hits = findings(report, "argocd-target-revision")
    assert code == 1 and hits and "'pr' (a branch" in hits[0]["message"], (err, rules(report))


def test_a_malformed_deploy_branch_is_a_clear_error(repo):
    (repo / ".kustodian.yaml").write_text(f"repoURLs: [{URL}]\ndeployBranch: {{a: b}}\n")
    code, _report, err = check(repo)
    assert code == 2 and "deployBranch must be a branch name" in err, (code, err)


def test_an_applicationset_template_at_a_branch_is_a_finding(repo):
    """The Applications an ApplicationSet generates are judged like written ones."""
    git(repo, "branch", "feature", "main")
    (repo / "app.yaml").write_text(f"""\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: shop
  namespace: argocd
spec:
  generators:
    - list:
        elements: [{{name: web}}]
  template:
    metadata:
      name: '{{{{name}}}}-prod'
      labels: {{kustodian.io/env: prod}}
    spec:
      project: default
      source:
        repoURL: {URL}
        path: '{{{{name}}}}'
        targetRevision: feature
      destination:
        server: https://kubernetes.default.svc
        namespace: web-prod
""")
    commit_all(repo, "an ApplicationSet at feature")
    for args, code, report, err in both_modes(repo):
        hits = findings(report, "argocd-target-revision")
        assert code == 1 and hits, (args, err, rules(report))
        assert hits[0]["name"] == "web-prod" and hits[0]["file"] == "app.yaml"
        assert "'feature' (a branch" in hits[0]["message"]


def test_the_base_branch_spelled_as_a_full_ref_is_the_revision_under_check(repo):
    """`refs/heads/main` is the branch the PR merges into, as `main` is."""
    set_revision(repo, "refs/heads/main")
    commit_all(repo, "targetRevision: refs/heads/main")
    code, report, err = check(repo, *PR)
    assert code in (0, 1) and not ARGOCD_RULES & rules(report), (err, rules(report))


@pytest.mark.parametrize("revision", ["refs/heads/pr", "HEAD~1", "main^", "main~0", "@{-1}"])
def test_a_revision_spelled_relative_to_the_checked_one_is_a_finding(repo, revision):
    """Not the checked tree, whatever commit it names today: the PR's own branch as a full
    ref, and revision expressions (Argo CD resolves no `~`, `^` or `@{}`: a ref or a sha)."""
    set_revision(repo, f"'{revision}'")
    commit_all(repo, f"targetRevision: {revision}")
    code, report, err = check(repo, *PR)
    hits = [f for f in report.get("findings", []) if f["rule"] in ARGOCD_RULES]
    assert code == 1 and hits, (revision, err, rules(report))
    assert hits[0]["status"] == "new" and hits[0]["name"] == "web-prod", hits[0]
