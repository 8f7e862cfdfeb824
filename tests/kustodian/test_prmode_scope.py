"""PR mode's shortcuts give the same answers as the full work they replace.

- DiscoveryScope answers "which of these dirs are targets" without listing the repository
  (given the dirs other kustomizations include, which PR mode finds from their texts): it
  must agree with `discover` (nested kustomizations, Components, hidden and symlinked dirs,
  kustomizations another one includes, the three file names, explicit PATHs).
- GitReader reads a commit per dir through `git cat-file`: it must agree with the files of a
  real checkout of that commit.
- The affected set computed with the lazy scope equals the one computed from a full
  discovery, for a change to every single file, a deletion and a rename (real git repos).
- render.prefetch: a render started early is taken over by render_all (real kustomize).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kustodian.config import load_config
from kustodian.discover import DiscoveryScope, discover
from kustodian.errors import KustodianError
from kustodian.kustomize import build as render_module
from kustodian.kustomize.build import discard_prefetched, prefetch, render_all
from kustodian.prmode import (
    FsReader,
    Git,
    GitReader,
    KustomizationTexts,
    ListedOverlays,
    _affected,
    _kustomization_text,
    affected_overlays,
    deleted_overlays,
    included_dirs,
)
from support.cli import git, init_repo, kustodian, write_tree

KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
COMPONENT = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


def tricky_tree(root: Path) -> Path:
    """Every case discovery distinguishes, under overlays/ and argocd/."""
    write_tree(root, {
        ".git/HEAD": "",
        "base/kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml]\n",
        "base/cm.yaml": CONFIGMAP.format(name="base"),
        "components/extra/kustomization.yaml": COMPONENT,
        "overlays/dev/kustomization.yaml": KUSTOMIZATION + "resources: [../../base]\n",
        "overlays/prod/kustomization.yml": KUSTOMIZATION + "resources: [../../base]\n",
        "overlays/qa/Kustomization": KUSTOMIZATION + "resources: [../../base]\n",
        "overlays/team/a/dev/kustomization.yaml": KUSTOMIZATION + "resources: [../../../../base]\n",
        "overlays/team/a/dev/nested/kustomization.yaml": KUSTOMIZATION,
        "overlays/shared/kustomization.yaml": KUSTOMIZATION + "resources: [part]\n",
        "overlays/shared/part/kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml]\n",
        "overlays/shared/part/cm.yaml": CONFIGMAP.format(name="part"),
        "overlays/shared/other/kustomization.yaml": KUSTOMIZATION,
        "overlays/canary-bits/kustomization.yaml": COMPONENT,
        "overlays/canary-bits/inner/kustomization.yaml": KUSTOMIZATION,
        "overlays/.hidden/kustomization.yaml": KUSTOMIZATION,
        "overlays/x/.cache/kustomization.yaml": KUSTOMIZATION,
        "overlays/plain/cm.yaml": CONFIGMAP.format(name="plain"),
        "overlays/not-a-kustomization/kustomization.yaml/readme.txt": "a dir, not a file\n",
        "argocd/kustomization.yaml": KUSTOMIZATION + "resources: [app.yaml]\n",
        "argocd/app.yaml": CONFIGMAP.format(name="app"),
        "argocd/bootstrap/kustomization.yaml": KUSTOMIZATION,
        "elsewhere/kustomization.yaml": KUSTOMIZATION,
    })
    os.symlink(root / "overlays/dev", root / "overlays/linked")
    os.symlink(root / "elsewhere", root / "overlays/team/linked-dir")
    return root


def all_dirs(root: Path) -> set[str]:
    found = {"."}
    for current, dirs, _ in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for d in dirs:
            found.add(Path(current, d).relative_to(root).as_posix())
    return found


def included_by_texts(root: Path, scope: DiscoveryScope, dirs: set[str]) -> set[str]:
    """The dirs among `dirs` another kustomization includes, found as PR mode finds them."""
    head = FsReader(root)
    kdirs = sorted(d for d in all_dirs(root) if head.kustomization(d))
    return included_dirs(dirs, KustomizationTexts(head, kdirs), head, scope)


def overlay_displays(targets) -> list[str]:
    return [t.display for t in targets if t.kind == "overlay"]


@pytest.mark.parametrize("paths", [[], ["overlays"], ["overlays/team", "argocd"],
                                   ["overlays/dev"]])
def test_scope_agrees_with_discover(tmp_path, paths):
    root = tricky_tree(tmp_path / "repo")
    config = load_config(root)
    cwd = os.getcwd()
    os.chdir(root)                       # explicit PATHs are given relative to the cwd
    try:
        expected = overlay_displays(discover(list(paths), root, config, None))
        dirs = all_dirs(root)
        # a fresh scope per question: all() discovers, and among() then answers from that
        assert DiscoveryScope(list(paths), root, config, None).all() == expected
        scope = DiscoveryScope(list(paths), root, config, None)
        included = included_by_texts(root, scope, dirs)
        assert scope.among(dirs, included) == expected
        for directory in sorted(dirs):
            assert scope.among({directory}, included) == [
                o for o in expected if o == directory], directory
        assert scope._targets is None or paths              # answered without a listing
    finally:
        os.chdir(cwd)
    # Components, hidden and symlinked dirs, any place: nothing skipped (patch-only
    # Components, which render nothing alone, are checked through their includers)
    if not paths:
        assert expected == [     # the empty kustomizations render nothing: no targets
            "argocd", "overlays/dev", "overlays/linked", "overlays/prod", "overlays/qa",
            "overlays/shared", "overlays/team/a/dev"]


def test_scope_on_a_generated_monorepo(tmp_path, repo_root):
    root = tmp_path / "mono"
    subprocess.run([sys.executable, str(repo_root / "bench/gen_monorepo.py"), "--apps", "3",
                    "--out", str(root)], check=True, capture_output=True)
    config = load_config(root)
    expected = overlay_displays(discover([], root, config, None))
    scope = DiscoveryScope([], root, config, None)
    assert len(expected) == 12                 # bases and Components are included: not roots
    dirs = all_dirs(root)
    included = included_by_texts(root, scope, dirs)
    assert scope.among(dirs, included) == expected and scope._targets is None
    assert scope.among({"overlays/app-0002/prod", "base/app-0002", "nope"}, included) == [
        "overlays/app-0002/prod"]
    assert [scope.env_of(o) for o in expected[:4]] == ["dev", "prod", "prod", "staging"]


def test_scope_keeps_discover_errors(tmp_path):
    root = tricky_tree(tmp_path / "repo")
    config = load_config(root)
    with pytest.raises(KustodianError, match="no such file"):
        DiscoveryScope([str(root / "missing")], root, config, None)
    (root / "empty").mkdir()
    with pytest.raises(KustodianError, match="no kustomization or YAML manifest"):
        DiscoveryScope([str(root / "empty")], root, config, None)
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(KustodianError, match="no kustomization or Kubernetes manifest"):
        discover([], bare, load_config(bare), None)
    # a Component PATH is rendered like any kustomization (kustomize builds it)
    scope = DiscoveryScope([str(root / "components/extra")], root, config, None)
    assert scope.all() == ["components/extra"]


def test_git_reader_agrees_with_a_checkout(tmp_path):
    top = tmp_path / "top"
    root = tricky_tree(top / "deploy")
    write_tree(root, {"with space/file one.yaml": "a: 1\n", "overlays/dev/empty.yaml": ""})
    init_repo(top)
    commit = git(top, "rev-parse", "HEAD").strip()
    (root / "overlays/dev/kustomization.yaml").write_text("changed in the work tree\n")
    (root / "untracked.yaml").write_text("x: 1\n")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    subprocess.run(f"git archive {commit} deploy | tar -x -C {checkout}", shell=True,
                   cwd=top, check=True)
    fs = FsReader(checkout / "deploy")
    paths = sorted(all_dirs(checkout / "deploy") | {
        p.relative_to(checkout / "deploy").as_posix()
        for p in (checkout / "deploy").rglob("*")} | {"nope", "overlays/nope", "base/cm.yaml/x"})
    with GitReader(Git(root), commit) as reader:
        for path in paths:
            assert reader.exists(path) == os.path.lexists(checkout / "deploy" / path), path
            link = os.path.islink(checkout / "deploy" / path)
            assert reader.is_dir(path) == (fs.is_dir(path) and not link), path
            assert reader.kustomization(path) == fs.kustomization(path) or link, path
            if (checkout / "deploy" / path).is_file() and not link:
                assert reader.read(path) == fs.read(path), path
        assert reader.read("untracked.yaml") is None
        assert reader.read("overlays/dev/kustomization.yaml").startswith(b"apiVersion")
        assert reader.read("overlays") is None and reader.read("missing") is None
        assert reader.kustomization(".") is None and reader.is_dir(".")


def _affected_both_ways(root: Path, changed: set[str], base: GitReader | None = None
                        ) -> tuple[list[str], list[str]]:
    """The affected overlays found lazily and from the full listing, each with a Git of its
    own; `base`: a reader of HEAD (made here when not given)."""
    config = load_config(root)
    listed = overlay_displays(discover([], root, config, None))
    git_ = Git(root)
    with contextlib.ExitStack() as stack:
        reader = base or stack.enter_context(GitReader(git_, git_.resolve("HEAD").commit))
        lazy = _affected(DiscoveryScope([], root, config, None), changed, FsReader(root),
                         reader, git_)
        full = _affected(ListedOverlays(root, listed), changed, FsReader(root), reader,
                         Git(root))
    return lazy, full


@pytest.fixture
def mono(tmp_path, repo_root) -> Path:
    root = tmp_path / "mono"
    subprocess.run([sys.executable, str(repo_root / "bench/gen_monorepo.py"), "--apps", "3",
                    "--out", str(root)], check=True, capture_output=True)
    init_repo(root)
    return root


def test_lazy_affected_set_equals_the_full_one_for_every_file(mono):
    files = git(mono, "ls-files").split()
    some = 0
    git_ = Git(mono)
    with GitReader(git_, git_.resolve("HEAD").commit) as base:     # HEAD: the same for all
        for path in files:
            if path.startswith("policies/") or path in (".kustodian.yaml", "Dockerfile"):
                continue
            target = mono / path
            before = target.read_bytes()
            target.write_bytes(before + b"\n# touched\n")
            try:
                lazy, full = _affected_both_ways(mono, {path}, base)
            finally:
                target.write_bytes(before)
            assert lazy == full, path
            some += bool(lazy)
    assert some > 12


def test_deleted_and_renamed_inputs(mono):
    shutil.rmtree(mono / "overlays/app-0002")
    changed = {p for p in git(mono, "ls-files").split() if p.startswith("overlays/app-0002/")}
    lazy, full = _affected_both_ways(mono, changed)
    assert lazy == full == ["overlays/app-0002/dev", "overlays/app-0002/prod",
                            "overlays/app-0002/prod-canary", "overlays/app-0002/staging"]
    git(mono, "checkout", "--", ".")

    kfile = mono / "overlays/app-0001/dev/kustomization.yaml"
    assert "patches/replicas.yaml" in kfile.read_text()
    git(mono, "mv", "overlays/app-0001/dev/patches/replicas.yaml",
        "overlays/app-0001/dev/patches/size.yaml")
    kfile.write_text(kfile.read_text().replace("patches/replicas.yaml", "patches/size.yaml"))
    changed = {"overlays/app-0001/dev/patches/replicas.yaml",
               "overlays/app-0001/dev/patches/size.yaml",
               "overlays/app-0001/dev/kustomization.yaml"}
    assert _affected_both_ways(mono, changed) == (["overlays/app-0001/dev"],) * 2

    shutil.rmtree(mono / "components/pod-defaults")
    deleted = {p for p in git(mono, "ls-files").split() if p.startswith("components/pod-defaults")}
    lazy, full = _affected_both_ways(mono, deleted)
    assert lazy == full and len(lazy) >= 9          # every overlay using the component


def test_deleted_overlay_outside_the_roots_is_found_through_the_base_config(tmp_path):
    root = tmp_path / "repo"
    write_tree(root, {
        ".kustodian.yaml": "overlays:\n  deploy/edge: {env: prod}\n",
        "deploy/edge/kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml]\n",
        "deploy/edge/cm.yaml": CONFIGMAP.format(name="edge"),
        "deploy/other/kustomization.yaml": KUSTOMIZATION,
        "deploy/part/kustomization.yaml": COMPONENT,
        "overlays/dev/kustomization.yaml": KUSTOMIZATION,
    })
    init_repo(root)
    for gone in ("deploy/edge", "deploy/other", "deploy/part"):
        shutil.rmtree(root / gone)
    changed = {"deploy/edge/kustomization.yaml", "deploy/edge/cm.yaml",
               "deploy/other/kustomization.yaml", "deploy/part/kustomization.yaml"}
    git_ = Git(root)
    with GitReader(git_, git_.resolve("HEAD").commit) as reader:
        assert deleted_overlays({"overlays"}, changed, FsReader(root), reader) == ["deploy/edge"]
        assert deleted_overlays({"deploy"}, changed, FsReader(root), reader) == [
            "deploy/edge", "deploy/other"]                    # never the Component


def test_prefetched_render_is_taken_over(tmp_path, kustomize_bin):
    root = write_tree(tmp_path, {
        "a/kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml]\n",
        "a/cm.yaml": CONFIGMAP.format(name="first"),
        "b/kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml]\n",
        "b/cm.yaml": CONFIGMAP.format(name="b"),
    })
    try:
        prefetch([(root / "a", "a")], kustomize_bin)
        # wait for the early render, then change the input: render_all must hand over the
        # early result (rendered once), and render b itself
        early = next(iter(render_module._PREFETCHED.values())).result()
        (root / "a/cm.yaml").write_text(CONFIGMAP.format(name="second"))
        results = {r.display: r for r in render_all([(root / "a", "a"), (root / "b", "b")],
                                                     kustomize_bin)}
        assert results["a"] is early and "name: first" in results["a"].text
        assert "name: b" in results["b"].text and results["b"].error is None
        results = {r.display: r for r in render_all([(root / "a", "a")], kustomize_bin)}
        assert "name: second" in results["a"].text              # taken once only
    finally:
        discard_prefetched()


def test_discard_prefetched_forgets_unused_renders(tmp_path, kustomize_bin):
    root = write_tree(tmp_path, {"a/kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml]\n",
                                 "a/cm.yaml": CONFIGMAP.format(name="first")})
    prefetch([(root / "a", "a")], kustomize_bin)
    discard_prefetched()
    (root / "a/cm.yaml").write_text(CONFIGMAP.format(name="second"))
    results = list(render_all([(root / "a", "a")], kustomize_bin))
    assert "name: second" in results[0].text


def test_references_ending_in_dots_are_followed(tmp_path):
    """`resources: [..]` names the parent dir without any of its names: still found."""
    root = write_tree(tmp_path / "repo", {
        "overlays/prod/kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml]\n",
        "overlays/prod/cm.yaml": CONFIGMAP.format(name="prod"),
        "overlays/prod/eu/kustomization.yaml": KUSTOMIZATION + "resources:\n  - ..\n",
        "overlays/prod/us/kustomization.yaml": KUSTOMIZATION + "resources: ['../']\n",
        "overlays/dev/kustomization.yaml": KUSTOMIZATION + "resources: [\"../prod/./\"]\n",
        "overlays/qa/kustomization.yaml": KUSTOMIZATION + "namespace: qa  # not ../prod\n",
    })
    overlays = ["overlays/dev", "overlays/prod", "overlays/prod/eu", "overlays/prod/us",
                "overlays/qa"]
    dirs = overlays
    head = FsReader(root)
    for changed in ({"overlays/prod/cm.yaml"}, {"overlays/prod/kustomization.yaml"}):
        assert affected_overlays(overlays, changed, head, dirs) == [
            "overlays/dev", "overlays/prod", "overlays/prod/eu", "overlays/prod/us"]
        assert affected_overlays(overlays, changed, head) == affected_overlays(
            overlays, changed, head, dirs)


# --- the CLI end to end (real git, kustomize, conftest) ---------------------------------------

FIXTURE = Path(__file__).resolve().parent / "fixtures_pr"


@pytest.fixture
def cli_repo(tmp_path: Path, repo_root: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root)
    shutil.copytree(repo_root / "policies", root / "policies")
    write_tree(root, {
        ".gitignore": "out.md\n",
        "argocd/kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml]\n",
        "argocd/cm.yaml": CONFIGMAP.format(name="argocd-settings"),
        "overlays/.wip/kustomization.yaml": KUSTOMIZATION + "resources: [../../base]\n",
    })
    # a hidden overlay is a target too: it needs an env like any other
    config = root / ".kustodian.yaml"
    config.write_text(config.read_text() + "  overlays/.wip: {env: dev}\n")
    init_repo(root)
    return root


def pr_json(repo: Path, *args: str) -> tuple[int, dict, str]:
    proc = kustodian("check", "--format", "json", "--summary", "out.md", *args, cwd=repo)
    assert "Traceback" not in proc.stderr, proc.stderr
    summary = (repo / "out.md").read_text() if (repo / "out.md").exists() else ""
    return proc.returncode, json.loads(proc.stdout) if proc.stdout else {}, summary


def edit_file(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_cli_base_change_checks_every_overlay_using_it_and_nothing_else(cli_repo):
    (cli_repo / "base/service.yaml").write_text(
        (cli_repo / "base/service.yaml").read_text() + "# reworded\n")
    code, report, summary = pr_json(cli_repo, "--base-ref", "HEAD")
    assert code in (0, 1), summary
    # the hidden overlays/.wip uses the base too: hidden dirs are not skipped
    assert report["summary"]["overlays"] == ["overlays/.wip", "overlays/dev", "overlays/prod"]
    assert "3 affected overlay(s)" in summary

    (cli_repo / "base/service.yaml").write_text(
        (cli_repo / "base/service.yaml").read_text().replace("# reworded\n", ""))
    edit_file(cli_repo / "argocd/cm.yaml", "a: b", "a: c")
    code, report, summary = pr_json(cli_repo, "--base-ref", "HEAD")
    assert report["summary"]["overlays"] == ["argocd"], summary
    assert "+  a: c" in summary


def test_cli_deleted_overlay_is_compared_with_the_base(cli_repo):
    shutil.copytree(cli_repo / "overlays/dev", cli_repo / "overlays/qa")
    edit_file(cli_repo / ".kustodian.yaml", "  overlays/dev: {env: dev}\n",
              "  overlays/dev: {env: dev}\n  overlays/qa: {env: dev}\n")   # an env: no error
    edit_file(cli_repo / "overlays/qa/kustomization.yaml", "patches:",
              "images:\n  - name: ghcr.io/acme/agent\n    newName: docker.io/library/agent\n"
              "    newTag: \"1.0\"\npatches:")
    git(cli_repo, "add", "-A")
    git(cli_repo, "commit", "-q", "-m", "qa")
    shutil.rmtree(cli_repo / "overlays/qa")
    code, report, summary = pr_json(cli_repo, "--base-ref", "HEAD", "--new-only")
    assert code == 0, summary
    assert report["findings"] == [] and report["summary"]["overlays"] == []
    assert "1 affected overlay(s): `overlays/qa`" in summary
    assert "### Fixed findings" in summary and "allowed-registries" in summary


def test_cli_env_and_explicit_paths_narrow_pr_mode(cli_repo):
    (cli_repo / "base/service.yaml").write_text(
        (cli_repo / "base/service.yaml").read_text() + "# reworded\n")
    _, report, _ = pr_json(cli_repo, "--base-ref", "HEAD", "--env", "prod")
    assert report["summary"]["overlays"] == ["overlays/prod"]
    _, report, _ = pr_json(cli_repo, "--base-ref", "HEAD", "overlays/dev")
    assert report["summary"]["overlays"] == ["overlays/dev"]
    assert {f["env"] for f in report["findings"]} <= {"dev"}
    code, _, _ = pr_json(cli_repo, "--base-ref", "HEAD", "overlays/nope")
    assert code == 2


def test_kustomization_texts_from_the_index_are_the_work_tree_bytes(tmp_path):
    """Texts taken from index blobs (one cat-file) must equal what a read of the work tree
    gives; files whose index blob is not the work tree's bytes are read from the work tree."""
    root = write_tree(tmp_path / "repo", {
        f"k/{name}/kustomization.yaml": KUSTOMIZATION + f"namespace: {name}\n"
        for name in ("clean", "unstaged", "staged", "staged-reverted", "deleted", "shadowed",
                     "linked-target")})
    write_tree(root, {"k/other-name/Kustomization": KUSTOMIZATION + "namespace: other\n"})
    (root / "k/symlink").mkdir()
    os.symlink("../linked-target/kustomization.yaml", root / "k/symlink/kustomization.yaml")
    init_repo(root)
    (root / "k/unstaged/kustomization.yaml").write_text(KUSTOMIZATION + "namespace: edited\n")
    (root / "k/staged/kustomization.yaml").write_text(KUSTOMIZATION + "namespace: staged\n")
    git(root, "add", "k/staged/kustomization.yaml")
    reverted = root / "k/staged-reverted/kustomization.yaml"
    original = reverted.read_text()
    reverted.write_text(KUSTOMIZATION + "namespace: in-the-index-only\n")
    git(root, "add", "k/staged-reverted/kustomization.yaml")
    reverted.write_text(original)
    (root / "k/deleted/kustomization.yaml").unlink()
    (root / "k/shadowed/kustomization.yml").write_text(KUSTOMIZATION + "namespace: yml\n")
    (root / "k/shadowed/kustomization.yaml").unlink()

    git_ = Git(root)
    git_.changed_paths(git_.resolve("HEAD").commit)
    dirs = git_.kustomization_dirs()
    from_index = git_.indexed_kustomization_texts(dirs)
    head = FsReader(root)
    for directory, text in from_index.items():
        assert text == _kustomization_text(head, directory), directory
    assert {"k/clean", "k/staged", "k/other-name", "k/linked-target"} <= set(from_index)
    assert not {"k/unstaged", "k/staged-reverted", "k/deleted", "k/shadowed",
                "k/symlink"} & set(from_index)
    texts = KustomizationTexts(head, dirs, from_index)
    assert "namespace: yml" in texts.text and "namespace: edited" in texts.text
    assert "in-the-index-only" not in texts.text
