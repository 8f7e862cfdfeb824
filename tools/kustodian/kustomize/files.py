"""Where kustomization files are: the file names kustomize accepts and how one is found."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Mapping
from pathlib import Path

NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_file(directory: Path) -> Path | None:
    """The kustomization file kustomize reads in `directory` (a regular file), or None."""
    for name in NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def kustomization_name(directory: str) -> str | None:
    """The kustomization file name present in `directory` (any non-dir entry, a dangling
    symlink too: kustomize then reports it), without following the dir's own symlinks."""
    for name in NAMES:
        path = os.path.join(directory, name)
        if os.path.lexists(path) and not os.path.isdir(path):
            return name
    return None


def name_in(listing: Iterable[str]) -> str | None:
    """The kustomization file name among a dir listing's names (kustomize's order)."""
    names = set(listing)
    return next((n for n in NAMES if n in names), None)


def is_kustomization_path(path: str) -> bool:
    """Whether a (posix) path names a kustomization file."""
    return path.endswith(NAMES) and posixpath.basename(path) in NAMES


def real_path(path: str, links: Mapping[str, str]) -> str:
    """A repository-relative path with every symlinked dir on it replaced by the link's
    target (`links`: link path -> target path, "" for the root; links through links too).
    kustomize and Argo CD resolve a kustomization's relative references from the real path
    of its dir, so `resources: [../x]` in a dir reached through a link names `x` next to the
    link's target, not next to the link."""
    if not links:
        return path
    for _ in range(8):                                  # links through links, bounded
        hit = None
        for link in links:
            if (path == link or path.startswith(link + "/")) and (
                    hit is None or len(link) > len(hit)):
                hit = link
        if hit is None:
            break
        target = links[hit]
        rest = path[len(hit):].lstrip("/")
        path = posixpath.join(target, rest) if target else (rest or ".")
    return path.rstrip("/") if path not in ("", ".") else path
