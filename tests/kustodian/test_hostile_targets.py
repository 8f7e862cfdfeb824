"""Hostile pull requests against target discovery and PR mode, on a scratch clone of this
repository: each change gets a privileged container deployed (`kustomize build` renders it)
and the gate must fail, in full mode and in PR mode (`--base-ref <base> --new-only`).

Discovery: an overlay turned into a Component, a new Component dir, a hidden dir, a
symlinked dir (its target under an ignored path), a kustomization outside overlays/ and
argocd/, a plain manifest file anywhere (its keys spelled with YAML escapes too). PR mode:
a file reached only through a transformer config (PatchTransformer `path`), through a
symlinked resource dir, or through a YAML-escaped path, edited by a second PR.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import commit_all, copy_checkout, git, kustodian, shared_template

PRIVILEGED_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: agent
spec:
  template:
    spec:
      containers:
        - name: agent
          securityContext:
            privileged: true
"""
BENIGN_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: agent
  annotations:
    example.com/note: harmless
"""
PRIVILEGED_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: agent-dev
spec:
  hostPID: true
  containers:
    - name: debug
      image: busybox
      securityContext:
        privileged: true
"""
BENIGN_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: debug
  namespace: agent-dev
data:
  a: b
"""
KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
COMPONENT = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"


def write(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def link(repo: Path, rel: str, target: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, repo / rel)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    """A clone of this repository's committed tree, on a branch of its own: made once,
    never changed (each test changes a copy of its own, `scratch`); one for all workers."""
    def build(repo: Path) -> None:
        subprocess.run(["git", "clone", "-q", "--no-local", str(repo_root), str(repo)],
                       check=True, capture_output=True)
        git(repo, "checkout", "-q", "-b", "pr")

    return shared_template(tmp_path_factory, "hostile-targets-clone", build)


@pytest.fixture
def scratch(pristine: Path, tmp_path: Path) -> Path:
    """The test's own copy of `pristine` (files, index and history alike)."""
    repo = copy_checkout(pristine, tmp_path / "clone")
    assert not git(repo, "status", "--porcelain")
    return repo


def gate(repo: Path, *args: str) -> tuple[int, list[dict], str]:
    proc = kustodian("check", "--no-conftest", "--format", "json", *args, cwd=repo)
    assert "Traceback" not in proc.stderr, proc.stderr
    findings = json.loads(proc.stdout)["findings"] if proc.stdout.strip() else []
    return proc.returncode, findings, proc.stderr


def assert_caught(repo: Path, base: str) -> None:
    """Full mode and PR mode both fail with the privileged container found (new in PR).
    Exit 2 counts too: a dir with no env (`overlays/.debug`) is also an error to map it."""
    code, findings, err = gate(repo)
    assert code in (1, 2), err
    assert any(f["rule"] == "no-privileged" for f in findings), findings
    code, findings, err = gate(repo, "--base-ref", base, "--new-only")
    assert code in (1, 2), err
    assert any(f["rule"] == "no-privileged" and f["status"] == "new" for f in findings), \
        findings


def overlay_to_component(repo: Path) -> None:
    path = repo / "overlays/dev/kustomization.yaml"
    text = path.read_text().replace(KUSTOMIZATION, COMPONENT)
    path.write_text(text + "  - path: priv.yaml\n")
    write(repo, {"overlays/dev/priv.yaml": PRIVILEGED_PATCH})


def new_component_dir(repo: Path) -> None:
    write(repo, {"overlays/debug/kustomization.yaml":
                 COMPONENT + "namespace: agent-dev\nresources: [../../base]\n"
                             "patches:\n  - path: priv.yaml\n",
                 "overlays/debug/priv.yaml": PRIVILEGED_PATCH})


def hidden_dir(repo: Path) -> None:
    write(repo, {"overlays/.debug/kustomization.yaml":
                 KUSTOMIZATION + "resources: [pod.yaml]\n",
                 "overlays/.debug/pod.yaml": PRIVILEGED_POD})


def symlinked_dir(repo: Path) -> None:
    write(repo, {"tests/stash/kustomization.yaml": KUSTOMIZATION + "resources: [pod.yaml]\n",
                 "tests/stash/pod.yaml": PRIVILEGED_POD})
    link(repo, "overlays/debug", "../tests/stash")


def kustomization_elsewhere(repo: Path) -> None:
    write(repo, {"deploy/debug/kustomization.yaml": KUSTOMIZATION + "resources: [pod.yaml]\n",
                 "deploy/debug/pod.yaml": PRIVILEGED_POD})


def plain_manifest_anywhere(repo: Path) -> None:
    write(repo, {"manifests/debug.yaml": PRIVILEGED_POD})


def plain_manifest_with_escaped_keys(repo: Path) -> None:
    """kubectl and Argo CD read `"api\\x56ersion"` as apiVersion (a YAML escape)."""
    text = PRIVILEGED_POD.replace("apiVersion:", '"api\\x56ersion":', 1)
    write(repo, {"manifests/debug.yaml": text.replace("kind:", '"\\x6bind":', 1)})


@pytest.mark.parametrize("hostile", [overlay_to_component, new_component_dir, hidden_dir,
                                     symlinked_dir, kustomization_elsewhere,
                                     plain_manifest_anywhere, plain_manifest_with_escaped_keys])
def test_discovery_leaves_nothing_out(scratch: Path, hostile: Callable[[Path], None]) -> None:
    base = git(scratch, "rev-parse", "HEAD").strip()
    hostile(scratch)
    commit_all(scratch, hostile.__name__)
    assert_caught(scratch, base)


def add_patch_entry(repo: Path, entry: str) -> None:
    path = repo / "overlays/dev/kustomization.yaml"
    path.write_text(path.read_text() + entry)


def through_transformer_config(repo: Path) -> Callable[[Path], None]:
    add_patch_entry(repo, "transformers:\n  - dbg-transformer.yaml\n")
    write(repo, {"overlays/dev/dbg-transformer.yaml":
                 "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: dbg\n"
                 "path: patches/dbg.yaml\ntarget:\n  kind: Deployment\n  name: agent\n",
                 "overlays/dev/patches/dbg.yaml": BENIGN_PATCH})
    return lambda r: write(r, {"overlays/dev/patches/dbg.yaml": PRIVILEGED_PATCH})


def through_symlinked_resource_dir(repo: Path) -> Callable[[Path], None]:
    write(repo, {"tests/stash/kustomization.yaml": KUSTOMIZATION + "resources: [debug.yaml]\n",
                 "tests/stash/debug.yaml": BENIGN_CONFIGMAP})
    link(repo, "overlays/dev/extra", "../../tests/stash")
    add_patch_entry(repo, "resources:\n  - extra\n")
    path = repo / "overlays/dev/kustomization.yaml"
    text = path.read_text()
    # one `resources:` key: move the new entry into the existing list
    text = text.replace("resources:\n  - extra\n", "").replace(
        "resources:\n  - namespace.yaml\n", "resources:\n  - namespace.yaml\n  - extra\n")
    path.write_text(text)
    return lambda r: write(r, {"tests/stash/debug.yaml": PRIVILEGED_POD})


def through_escaped_path(repo: Path) -> Callable[[Path], None]:
    add_patch_entry(repo, '  - path: "patches/dbg\\x2eyaml"\n')
    write(repo, {"overlays/dev/patches/dbg.yaml": BENIGN_PATCH})
    return lambda r: write(r, {"overlays/dev/patches/dbg.yaml": PRIVILEGED_PATCH})


def through_plain_manifest(repo: Path) -> Callable[[Path], None]:
    write(repo, {"manifests/debug.yaml": BENIGN_CONFIGMAP})
    return lambda r: write(r, {"manifests/debug.yaml": PRIVILEGED_POD})


@pytest.mark.parametrize("setup", [through_transformer_config, through_symlinked_resource_dir,
                                   through_escaped_path, through_plain_manifest])
def test_second_pr_edits_only_an_indirect_input(scratch: Path,
                                                setup: Callable[[Path], Callable]) -> None:
    """A first (benign) PR wires a file in; the second edits only that file."""
    second = setup(scratch)
    base = commit_all(scratch, "first PR: wire a harmless file in")
    code, findings, err = gate(scratch)
    assert code == 0, (err, findings)                 # the first PR is clean
    second(scratch)
    commit_all(scratch, "second PR: edit only that file")
    assert_caught(scratch, base)


def test_symlink_leading_outside_is_an_error(scratch: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text(KUSTOMIZATION)
    base = git(scratch, "rev-parse", "HEAD").strip()
    link(scratch, "overlays/debug", str(outside))
    commit_all(scratch, "link out")
    for args in ((), ("--base-ref", base, "--new-only")):
        code, _, err = gate(scratch, *args)
        assert code == 2 and "symlink leads outside the repository" in err, err
        assert "overlays/debug" in err
