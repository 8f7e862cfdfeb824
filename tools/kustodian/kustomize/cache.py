"""A content-keyed cache of `kustomize build` outputs, opt-in by whoever runs the gate.

The key is a SHA-256 of everything the build's output depends on: the kustomize binary's
identity (real path, device, inode, size, mtime and ctime), the build mode, and every file
kustomize can read for the build, by its path relative to the built dir and its content.

Which files: kustomize runs with its default load restrictor (root only), so a build reads
files only under the kustomization roots it reaches: the built dir and every dir named by a
reached kustomization (resources, bases, components, generators, transformers, validators,
chart homes...), transitively. Rather than follow kustomize's field rules, every string value
of a reached kustomization (inline plugin configs and patches included) that names an
existing dir relative to it is a reached root, and one that names an existing file outside
the roots is hashed too; the whole subtree of each root is hashed (names and contents).
That over-approximates what the build reads, which only costs a miss, never a wrong hit.

Anything that cannot be keyed soundly is not cached and kustomize renders for real: a
symlink or a non-regular file (FIFO, device, socket: never opened) in a hashed subtree or on
the way to a reached path, an absolute path that exists, a remote reference, an unparsable
kustomization, more than contentstore.MAX_FILES entries or MAX_BYTES to hash. Only successful
builds are stored, and only when the key computed after the build equals the one before (the
inputs did not change while kustomize ran). Online builds are never cached (callers pass
none), nor are origin-annotated ones (their output names paths of a throw-away wrapper).

The entries live in the `renders-v1` subdir of the operator's KUSTODIAN_RENDER_CACHE dir
(kustodian.contentstore: how the dir is vetted, entries written, verified and trimmed).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from kustodian.contentstore import CACHE_ENV, ContentStore, Uncacheable, add_tree, tool_identity
from kustodian.kustomize.files import kustomization_file
from kustodian.kustomize.model import load, string_values

__all__ = ["CACHE_ENV", "RenderCache"]

_ENTRIES = "renders-v1"          # the entries' subdir (its name versions the format)
_MAGIC = b"kustodian-render-cache-v1 "


@dataclass(frozen=True)
class RenderCache:
    """The operator-configured render cache (see the module doc)."""

    store: ContentStore

    @property
    def directory(self) -> Path:
        return self.store.directory

    @classmethod
    def for_tree(cls, tree: Path) -> RenderCache | None:
        """The cache KUSTODIAN_RENDER_CACHE names, checked against the tree under check;
        None when the variable is unset or empty. Raises KustodianError when the dir lies
        inside `tree`, is not a dir, or is writable by other users."""
        store = ContentStore.for_tree(tree, _ENTRIES, _MAGIC)
        return None if store is None else cls(store)

    def key(self, built: Path, kustomize: str, mode: str) -> str | None:
        """The key of `kustomize build built` in `mode`, or None when it cannot be keyed."""
        try:
            return _key(os.path.realpath(built), kustomize, mode)
        except (Uncacheable, OSError):
            return None

    def get(self, key: str) -> str | None:
        """The stored output for `key`, or None (absent, truncated, corrupt, unreadable)."""
        body = self.store.get(key)
        try:
            return None if body is None else body.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def put(self, key: str, text: str) -> None:
        """Store `text` under `key` (errors are ignored: a cache that cannot be written is
        only slower)."""
        self.store.put(key, text.encode("utf-8", errors="surrogateescape"))


def _key(built: str, kustomize: str, mode: str) -> str:
    roots, files = _reached(built)
    digest = hashlib.sha256(b"kustodian render key v1\0")
    for part in (mode, *tool_identity(kustomize)):
        digest.update(f"{part}\0".encode())
    add_tree(digest, built, roots, files)
    return digest.hexdigest()


def _reached(built: str) -> tuple[list[str], list[str]]:
    """(the roots whose subtrees kustomize may read, files named outside them): every
    string of every reached kustomization naming an existing path, transitively."""
    roots, files = {built}, set()
    queue, seen = [built], set()
    while queue:
        directory = queue.pop()
        if directory in seen:
            continue
        seen.add(directory)
        kfile = kustomization_file(Path(directory))
        if kfile is None:
            continue                 # a chart home or a plain dir: its subtree is hashed
        parsed = load(kfile)
        if parsed is None:
            raise Uncacheable("unparsable kustomization")
        if any(ref.remote for ref in parsed.references):
            raise Uncacheable("remote reference")
        for value in string_values(parsed.data):
            for candidate in {value, value.partition("=")[2]} - {""}:
                path = _existing(directory, candidate)
                if path is None:
                    continue
                if stat.S_ISDIR(path[1]):
                    roots.add(path[0])
                    queue.append(path[0])
                else:
                    files.add(path[0])
    return sorted(roots), sorted(files)


def _existing(directory: str, value: str) -> tuple[str, int] | None:
    """(path, mode) of what `value` names relative to a kustomization dir, or None when it
    names nothing (a plain string, a missing path). Raises Uncacheable for what cannot be
    keyed: an absolute path that exists, a symlink on the way, a non-regular file."""
    if "\0" in value or "\n" in value or len(value) > 4096:
        return None
    path = os.path.normpath(os.path.join(directory, value))
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):
        return None
    if os.path.isabs(value):
        raise Uncacheable("an absolute path")
    if os.path.realpath(path) != path:
        raise Uncacheable("a symlink on the way")
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise Uncacheable("not a regular file")
    return path, mode
