"""Pull-request mode's view of Argo CD: which targets hold Applications or ApplicationSets.
They are checked on every change, with the whole base tree, because what an Application
deploys (its source dir, values files, parameter override files, the files and dirs a git
generator lists, other Applications) can be anywhere in the tree and anything the
Application says about it can change the render.

A target holds an Argo CD object when a file naming `argoproj.io/v` is one of its inputs
(the same closure as any change: the kustomizations that render it), lies in its dir tree,
or is itself a plain manifest file (an Application kept in a loose file, argocd-example-apps
style, or in a plain dir an app of apps syncs). A target that held Applications only at the
base is affected anyway: removing them changed its inputs."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kustodian import git

MARKER = "argoproj.io/v"          # in `apiVersion: argoproj.io/v1alpha1`, not in annotations
SUFFIXES = (".yaml", ".yml", ".json")
ESCAPED = r'"[^"]*\\'             # a backslash in a double-quoted scalar: `"argoproj\x2eio/v1"`
_MAX_SCAN = 16 * 1024 * 1024


def _tracked(repo: Path, skip: Callable[[str], bool]) -> list[str]:
    """Tracked files (their work-tree content) naming MARKER, whatever their name (kustomize
    reads a resource of any name), and YAML/JSON files holding an Argo CD object whose
    apiVersion only escapes spell out. One `git grep` finds both kinds of candidates; the few
    hits without MARKER are parsed to decide (not those `skip` names: ignored paths)."""
    found = []
    for rel in git.grep_files(repo, [re.escape(MARKER), ESCAPED], timeout=120):
        path = os.path.join(repo, rel)
        try:
            with open(path, "rb") as handle:
                data = handle.read(_MAX_SCAN)
        except OSError:
            continue
        if MARKER.encode() in data or (rel.endswith(SUFFIXES) and not skip(rel)
                                       and _holds_argocd(path, rel)):
            found.append(rel)
    return found


def _holds_argocd(path: str, shown: str) -> bool:
    """Whether a YAML/JSON file holds an Argo CD object (or cannot be read to tell)."""
    import yaml

    from kustodian.argocd.model import is_argocd_object
    from kustodian.errors import KustodianError
    from kustodian.yamlio import check_structure, read_bytes

    try:
        text = read_bytes(path, shown, limit=_MAX_SCAN).decode("utf-8", "replace")
        check_structure(text, shown)
        docs = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except (KustodianError, yaml.YAMLError, ValueError, RecursionError):
        return True
    return any(is_argocd_object(d) for d in docs)


def _changed(repo: Path, changed: set[str]) -> list[str]:
    """Changed files (untracked ones too) naming MARKER, or holding an Argo CD object."""
    found = []
    for rel in changed:
        path = os.path.join(repo, rel)
        try:
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    data = handle.read(_MAX_SCAN)
                if MARKER.encode() in data or (rel.endswith(SUFFIXES) and b"\\" in data
                                               and _holds_argocd(path, rel)):
                    found.append(rel)
        except OSError:
            continue
    return found


def argocd_files(repo: Path, changed: set[str],
                 skip: Callable[[str], bool] = lambda _path: False) -> list[str]:
    """Repository-relative files holding an Argo CD object in the work tree (see `_tracked`):
    tracked ones and changed ones."""
    return sorted({*_tracked(repo, skip), *_changed(repo, changed)})


def argocd_targets(repo: Path, changed: set[str], scope: Any, head: Any, base: Any,
                   git: Any) -> list[str]:
    """The targets (kustomization dirs from `scope`, plain manifest files) that hold an Argo
    CD object: the targets a change to any such file would affect, and the kustomization
    roots above one."""
    from kustodian.prmode.scope import _affected, _is_global

    # a repository-wide input naming the marker (a Rego test) is no Argo CD object
    skip = getattr(scope, "ignored_path", lambda _path: False)
    files = [f for f in argocd_files(repo, changed, skip) if not _is_global(f)]
    if not files:
        return []
    dirs: set[str] = {"."}
    for file in files:
        parent = posixpath.dirname(file)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    above = list(scope.among(dirs))
    return list(dict.fromkeys([*above, *_affected(scope, set(files), head, base, git)]))
