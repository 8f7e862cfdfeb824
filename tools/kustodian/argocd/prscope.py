"""Pull-request mode's view of Argo CD: which overlays hold Applications or
ApplicationSets. They are checked on every change, with the whole base tree, because what an
Application deploys (its source dir, values files, parameter override files, other
Applications) can be anywhere in the tree and anything the Application says about it can
change the render. An overlay that held Applications only at the base is affected anyway:
removing them changed its inputs."""

from __future__ import annotations

import os
import posixpath
import subprocess
from pathlib import Path
from typing import Any

MARKER = "argoproj.io/v"          # in `apiVersion: argoproj.io/v1alpha1`, not in annotations
SUFFIXES = (".yaml", ".yml", ".json")
_MAX_SCAN = 16 * 1024 * 1024


def _tracked(repo: Path) -> list[str]:
    """Tracked files (their work-tree content) naming MARKER: one `git grep` (fixed string)."""
    proc = subprocess.run(["git", "grep", "-l", "-I", "-F", "-e", MARKER, "--",
                           *(f"*{s}" for s in SUFFIXES)], cwd=repo, capture_output=True,
                          text=True, timeout=120, check=False)
    return proc.stdout.splitlines()


def _changed(repo: Path, changed: set[str]) -> list[str]:
    """Changed files (untracked ones too) naming MARKER."""
    found = []
    for rel in changed:
        if not rel.endswith(SUFFIXES):
            continue
        path = os.path.join(repo, rel)
        try:
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    if MARKER.encode() in handle.read(_MAX_SCAN):
                        found.append(rel)
        except OSError:
            continue
    return found


def argocd_overlays(repo: Path, changed: set[str], scope: Any) -> list[str]:
    """Repository-relative overlay dirs (from `scope`) whose tree holds a file naming
    `argoproj.io/v` (an Argo CD object) in the work tree."""
    dirs: set[str] = set()
    for file in {*_tracked(repo), *_changed(repo, changed)}:
        parent = posixpath.dirname(file)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
        dirs.add(".")
    if not dirs:
        return []
    if isinstance(scope, list):
        return [o for o in scope if o in dirs]
    return list(scope.among(dirs))
