"""The render cache (kustodian.kustomize.cache) with the real kustomize.

Whether kustomize ran is counted by a pass-through script in front of the pinned binary: it
appends a line to a log and execs the real kustomize with the same arguments, so every build
here is a real one. Every test sets its own KUSTODIAN_RENDER_CACHE (the suite's shared one,
tests/conftest.py, is not used here).

Covered: a hit for identical content in another location; a miss after an edit of a reached
file, a new file in a reached root, a rename, another kustomize binary; nothing cached with a
symlink or a FIFO in a reached root, a remote resource, an online build, a failed build; a
corrupt entry is a miss; concurrent writers; an Argo CD Application's kustomize options
applied to a scratch copy go through the same runner (cached, bounded); and against a hostile
pull request: a cache dir
inside the checked tree or writable by others is refused, and a cached render never hides a
change from the gate (full and PR mode).
"""

from __future__ import annotations

import os
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kustodian.errors import KustodianError
from kustodian.kustomize.build import render
from kustodian.kustomize.cache import CACHE_ENV, RenderCache
from support.cli import commit_all, copy_repo, git, kustodian, write_tree
from support.processes import LoggedTool

TREE = {
    "base/kustomization.yaml": "resources: [deployment.yaml]\n",
    "base/deployment.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            spec:
              containers: [{name: web, image: nginx:1.27}]
        """,
    "overlays/dev/kustomization.yaml": """\
        resources: [../../base]
        namePrefix: dev-
        patches: [{path: patches/replicas.yaml}]
        """,
    "overlays/dev/patches/replicas.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec: {replicas: 2}
        """,
}


class Counting(LoggedTool):
    """The pinned kustomize behind a logging script (see the module doc); `runs` counts the
    builds."""

    @property
    def runs(self) -> int:
        return sum(call[:1] == ["build"] for call in self.calls())


@pytest.fixture
def counting(tmp_path: Path, kustomize_bin: str) -> Counting:
    return Counting(tmp_path / "tool", kustomize_bin)


def build(tree: Path, tool: Counting | str, overlay: str = "overlays/dev") -> str:
    result = render(tree / overlay, overlay, tool if isinstance(tool, str) else tool.path,
                    cache=RenderCache.for_tree(tree))
    assert result.error is None, result.error
    return result.text


def entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "renders-v1").iterdir()
                  if not p.name.startswith("."))


def test_identical_content_in_another_location_is_a_hit(tmp_path, cache_dir, counting):
    first = write_tree(tmp_path / "a", TREE)
    text = build(first, counting)
    assert counting.runs == 1 and "dev-web" in text and "replicas: 2" in text
    second = shutil.copytree(first, tmp_path / "elsewhere" / "b")
    assert build(second, counting) == text
    assert counting.runs == 1 and len(entries(cache_dir)) == 1


@pytest.mark.parametrize("change", ["edit_base_file", "edit_patch", "new_file_in_base",
                                    "rename_patch", "new_dir_in_overlay"])
def test_any_change_to_what_the_build_reaches_is_a_miss(tmp_path, cache_dir, counting, change):
    tree = write_tree(tmp_path / "repo", TREE)
    before = build(tree, counting)
    if change == "edit_base_file":
        path = tree / "base/deployment.yaml"
        path.write_text(path.read_text().replace("nginx:1.27", "nginx:1.28"))
    elif change == "edit_patch":
        path = tree / "overlays/dev/patches/replicas.yaml"
        path.write_text(path.read_text().replace("replicas: 2", "replicas: 3"))
    elif change == "new_file_in_base":      # not referenced: a miss all the same
        (tree / "base/notes.txt").write_text("x\n")
    elif change == "rename_patch":
        (tree / "overlays/dev/patches/replicas.yaml").rename(tree / "overlays/dev/r.yaml")
        path = tree / "overlays/dev/kustomization.yaml"
        path.write_text(path.read_text().replace("patches/replicas.yaml", "r.yaml"))
    else:
        (tree / "overlays/dev/patches/more").mkdir()
    after = build(tree, counting)
    assert counting.runs == 2
    assert (after != before) == (change in ("edit_base_file", "edit_patch"))
    assert len(entries(cache_dir)) == 2


def test_another_kustomize_binary_is_a_miss(tmp_path, cache_dir, counting):
    tree = write_tree(tmp_path / "repo", TREE)
    build(tree, counting)
    other = tmp_path / "other-tool" / "kustomize"     # the same script (and log) elsewhere
    other.parent.mkdir()
    shutil.copy2(counting.path, other)
    build(tree, str(other))
    assert counting.runs == 2
    # the same path, rewritten in place (same size): another identity too
    Path(counting.path).write_text(Path(counting.path).read_text())
    build(tree, counting)
    assert counting.runs == 3


@pytest.mark.parametrize("special", ["symlink_file", "symlink_dir", "fifo"])
def test_a_symlink_or_fifo_in_a_reached_root_means_no_caching(tmp_path, cache_dir, counting,
                                                               special):
    tree = write_tree(tmp_path / "repo", TREE)
    if special == "symlink_file":
        (tree / "base/deployment.yaml").rename(tree / "base/real.yaml")
        (tree / "base/deployment.yaml").symlink_to("real.yaml")
    elif special == "symlink_dir":
        (tree / "overlays/dev/patches").rename(tree / "overlays/dev/real")
        (tree / "overlays/dev/patches").symlink_to("real")
    else:   # a FIFO nobody references: kustomize never opens it, nor may the cache
        os.mkfifo(tree / "base/pipe.yaml")
    first = build(tree, counting)
    assert build(tree, counting) == first
    assert counting.runs == 2 and entries(cache_dir) == []


def test_remote_online_and_failed_builds_are_never_cached(tmp_path, cache_dir, counting):
    tree = write_tree(tmp_path / "repo", {
        **TREE,
        "remote/kustomization.yaml": "resources:\n  - https://example.com/x/deploy.yaml\n",
        "broken/kustomization.yaml": "resources: [missing.yaml]\n"})
    cache = RenderCache.for_tree(tree)
    for overlay in ("remote", "broken"):
        for _ in range(2):
            assert render(tree / overlay, overlay, counting.path, cache=cache).error
    assert counting.runs == 4
    for _ in range(2):
        assert render(tree / "overlays/dev", "dev", counting.path, cache=cache,
                      online=True).error is None
    assert counting.runs == 6 and entries(cache_dir) == []


@pytest.mark.parametrize("damage", ["truncate", "flip_a_byte", "empty"])
def test_a_corrupt_entry_is_a_miss_and_is_rewritten(tmp_path, cache_dir, counting, damage):
    tree = write_tree(tmp_path / "repo", TREE)
    text = build(tree, counting)
    [entry] = entries(cache_dir)
    data = entry.read_bytes()
    entry.write_bytes({"truncate": data[:len(data) // 2], "empty": b"",
                       "flip_a_byte": data[:-5] + b"X" + data[-4:]}[damage])
    assert build(tree, counting) == text and counting.runs == 2
    assert entry.read_bytes() == data
    assert build(tree, counting) == text and counting.runs == 2


def test_concurrent_writers_share_the_cache(tmp_path, cache_dir, counting):
    """Eight builds of the same content in eight places at once: each gets the same output,
    one valid entry remains, no temp file is left behind."""
    trees = [write_tree(tmp_path / f"copy{i}", TREE) for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        texts = list(pool.map(lambda t: build(t, counting), trees))
    assert len(set(texts)) == 1
    assert [p.name for p in (cache_dir / "renders-v1").iterdir()] == \
        [p.name for p in entries(cache_dir)]
    assert len(entries(cache_dir)) == 1
    runs = counting.runs
    assert build(trees[0], counting) == texts[0] and counting.runs == runs


def test_a_cache_dir_inside_the_checked_tree_is_refused(tmp_path, monkeypatch):
    repo = write_tree(tmp_path / "repo", TREE)
    inside = repo / ".cache" / "renders"
    outside = tmp_path / "link-into-repo"
    outside.symlink_to(repo / ".cache")
    for configured in (inside, repo, outside / "renders"):
        monkeypatch.setenv(CACHE_ENV, str(configured))
        with pytest.raises(KustodianError, match="inside the checked tree"):
            RenderCache.for_tree(repo)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(CACHE_ENV, str(shared))
    with pytest.raises(KustodianError, match="writable by other users"):
        RenderCache.for_tree(repo)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o777


PRIVILEGED = """\
      containers:
        - name: debug
          image: busybox:1.36
          securityContext:
            privileged: true
"""


def test_the_gate_refuses_a_cache_dir_in_the_repository(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    run = kustodian("check", "--no-conftest", "overlays/dev", cwd=repo,
                    env={CACHE_ENV: str(repo / ".cache" / "kustodian")})
    assert run.returncode == 2, run.stderr
    assert "render cache dir lies inside the checked tree" in run.stderr
    assert "Traceback" not in run.stderr and not (repo / ".cache").exists()


@pytest.mark.parametrize("edited", ["overlays/dev/patches/deployment.yaml",
                                    "base/agent/workload/deployment.yaml"])
def test_a_cached_render_never_hides_a_change_from_the_gate(tmp_path, edited):
    """Check, add a privileged container in a patch or a base file, check again with the
    same cache: the finding is there, in full mode and in PR mode (whose base side, the same
    content in another place, is taken from the cache)."""
    repo = copy_repo(tmp_path / "repo")
    env = {CACHE_ENV: str(tmp_path / "cache")}
    base = git(repo, "rev-parse", "HEAD").strip()
    first = kustodian("check", "--no-conftest", "--format", "json", "overlays/dev",
                      cwd=repo, env=env)
    assert first.returncode in (0, 1), first.stderr
    assert not any(f["rule"] == "no-privileged" for f in first.findings)
    stored = set(os.listdir(tmp_path / "cache" / "renders-v1"))
    assert stored
    path = repo / edited
    assert path.read_text().count("      containers:\n") == 1
    path.write_text(path.read_text().replace("      containers:\n", PRIVILEGED))
    commit_all(repo, "privileged")
    full = kustodian("check", "--no-conftest", "--format", "json", "overlays/dev",
                     cwd=repo, env=env)
    assert full.returncode == 1, full.stderr
    assert any(f["rule"] == "no-privileged" for f in full.findings)
    assert set(os.listdir(tmp_path / "cache" / "renders-v1")) > stored
    pr = kustodian("check", "--no-conftest", "--format", "json", "--base-ref", base,
                   "--new-only", "overlays/dev", cwd=repo, env=env)
    assert pr.returncode == 1, pr.stderr
    assert any(f["rule"] == "no-privileged" and f["status"] == "new" for f in pr.findings)


def test_an_application_with_kustomize_options_renders_through_the_runner(
        tmp_path, cache_dir, counting, monkeypatch):
    """Argo CD's kustomize options are applied to a scratch copy; its build is the Kustomize
    layer's: cached by content (a second check of the same tree is a hit) and bounded (an
    alias bomb stops at the memory limit instead of growing)."""
    import json

    from kustodian.argocd.build import render_kustomize
    from kustodian.argocd.sources import Recipe

    tree = write_tree(tmp_path / "repo", TREE)
    recipe = Recipe("kustomize", "overlays/dev", "web-dev", 0,
                    json.dumps({"namePrefix": "app-"}), edits=True)
    first = render_kustomize(recipe, tree, counting.path, "overlays/dev")
    assert first.error is None and "name: app-web" in first.text   # set, not added
    runs = counting.runs
    again = render_kustomize(recipe, tree, counting.path, "overlays/dev")
    assert again.text == first.text and counting.runs == runs and entries(cache_dir)
    bomb = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: bomb",
            "  annotations:", '    x0: &x0 "lolololololololololololololololololol"']
    bomb += [f"    x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]" for i in range(1, 9)]
    write_tree(tree, {"overlays/dev/bomb.yaml": "\n".join(bomb) + "\n",
                      "overlays/dev/kustomization.yaml": TREE["overlays/dev/kustomization.yaml"]
                      .replace("resources: [../../base]", "resources: [../../base, bomb.yaml]")})
    monkeypatch.setenv("KUSTODIAN_RENDER_MEMORY_MB", "256")
    bomb = render_kustomize(recipe, tree, counting.path, "overlays/dev")
    assert "memory limit (256 MB)" in str(bomb.error), bomb.error
    assert str(tmp_path) not in str(bomb.error)
