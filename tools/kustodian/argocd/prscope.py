"""Pull-request mode's view of Argo CD: which overlays hold Applications or
ApplicationSets (at HEAD or at the base). They are checked on every change, with the whole
base tree, because what an Application deploys (its source dir, values files, parameter
override files, other Applications) can be anywhere in the tree and anything the Application
says about it can change the render."""

from __future__ import annotations

import posixpath
import subprocess
from pathlib import Path
from typing import Any

PATTERN = r'^\s*(- )?"?apiVersion"?\s*:\s*"?argoproj\.io/'
GLOBS = ("*.yaml", "*.yml", "*.json")


def _grep(repo: Path, *revision: str) -> list[str]:
    args = ["git", "grep", "-l", "-I", "-E", "-e", PATTERN]
    args += ["--untracked"] if not revision else list(revision)
    proc = subprocess.run([*args, "--", *GLOBS], cwd=repo, capture_output=True, text=True,
                          timeout=120, check=False)
    files = []
    for line in proc.stdout.splitlines():
        files.append(line.split(":", 1)[1] if revision and ":" in line else line)
    return files


def argocd_overlays(repo: Path, git: Any, base_commit: str, scope: Any) -> list[str]:
    """Repository-relative overlay dirs (from `scope`) whose tree holds a file with an
    `apiVersion: argoproj.io/...` object, at HEAD or at the base commit."""
    files = set(_grep(repo)) | set(_grep(repo, base_commit))
    dirs: set[str] = set()
    for file in files:
        parent = posixpath.dirname(file)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
        dirs.add(".")
    if isinstance(scope, list):
        return [o for o in scope if o in dirs]
    return list(scope.among(dirs))
