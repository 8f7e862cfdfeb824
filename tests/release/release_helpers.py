"""Helpers of the release suite: the fixture repo copy, snapshots, rendered state."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from support.cli import init_repo

FIXTURE_REPO = Path(__file__).parent / "fixtures" / "repo"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64


def copy_fixture(dest: Path) -> Path:
    shutil.copytree(FIXTURE_REPO, dest)
    return init_repo(dest)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (outside .git) by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    """(old, new) for each line that changed; the line count must stay the same."""
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new), "lines were added or removed"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def build(repo: Path, overlay: str) -> list[dict]:
    """`kustomize build` of an overlay (real binary), parsed."""
    from ruamel.yaml import YAML
    from support.processes import require_tool

    out = subprocess.run([require_tool("kustomize"), "build", str(repo / overlay)], check=True,
                         capture_output=True, text=True).stdout
    return [d for d in YAML(typ="safe").load_all(out) if isinstance(d, dict)]


def rendered_images(repo: Path, overlay: str) -> set[str]:
    return {c["image"] for d in build(repo, overlay) if d["kind"] == "Deployment"
            for c in d["spec"]["template"]["spec"]["containers"]}


def canary_state(repo: Path, overlay: str) -> tuple[int, int, int]:
    """(stable weight, canary weight, canary replicas) as kustomize renders the overlay."""
    return canary_state_of(build(repo, overlay))


def canary_state_of(docs: list[dict]) -> tuple[int, int, int]:
    """(stable weight, canary weight, canary replicas) of a rendered canary overlay."""
    route = next(d for d in docs if d["kind"] == "HTTPRoute")
    weights = {b["name"]: b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]}
    canary = next(d for d in docs if d["kind"] == "Deployment"
                  and d["spec"]["template"]["metadata"]["labels"].get("track") == "canary")
    return weights["agent"], weights["agent-canary"], canary["spec"]["replicas"]
