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
kustomization, more than MAX_FILES entries or MAX_BYTES of content to hash. Only successful
builds are stored, and only when the key computed after the build equals the one before (the
inputs did not change while kustomize ran). Online builds are never cached (callers pass
none), nor are origin-annotated ones (their output names paths of a throw-away wrapper).

The dir comes from KUSTODIAN_RENDER_CACHE in the environment of whoever runs the gate, never
from the checked repository, and is refused when it lies inside the checked tree (a pull
request could commit entries into it) or is writable by other users. Entries are written to a
temp file and renamed, so concurrent runs share the dir safely; an entry whose checksum does
not match is a miss. Past MAX_ENTRIES, the least recently used entries are removed; deleting
the dir at any time is safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.kustomize.files import kustomization_file
from kustodian.kustomize.model import load, string_values

CACHE_ENV = "KUSTODIAN_RENDER_CACHE"
MAX_FILES = 5_000                # entries (files and dirs) hashed for one key
MAX_BYTES = 64 << 20             # bytes of file content hashed for one key
MAX_ENTRIES = 5_000              # cached renders kept; the least recently used go first
MAX_ENTRY_BYTES = 512 << 20      # a larger entry is not read back (nor written)
_ENTRIES = "renders-v1"          # the entries' subdir (its name versions the format)
_MAGIC = b"kustodian-render-cache-v1 "
_HEX = frozenset("0123456789abcdef")


class _Uncacheable(Exception):
    """The build's inputs cannot be keyed soundly: render for real, store nothing."""


@dataclass(frozen=True)
class RenderCache:
    """The entries dir of an operator-configured render cache (see the module doc)."""

    directory: Path

    @classmethod
    def for_tree(cls, tree: Path) -> RenderCache | None:
        """The cache KUSTODIAN_RENDER_CACHE names, checked against the tree under check;
        None when the variable is unset or empty. Raises KustodianError when the dir lies
        inside `tree`, is not a dir, or is writable by other users."""
        configured = os.environ.get(CACHE_ENV, "")
        if not configured:
            return None
        key = (configured, os.path.realpath(tree))
        opened = _OPENED.get(key)
        if opened is None or not opened.directory.is_dir():    # checked again once removed
            opened = _OPENED[key] = cls._open(Path(configured), Path(key[1]))
        return opened

    @classmethod
    def _open(cls, configured: Path, tree: Path) -> RenderCache:
        real = Path(os.path.realpath(configured))
        where = f"{CACHE_ENV}={configured}"
        if real == tree or tree in real.parents:
            raise KustodianError(
                "the render cache dir lies inside the checked tree", file=where,
                hint="point it at a dir outside the repository under check (a pull request "
                     "could commit cache entries there)")
        try:
            real.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.stat(real)
        except OSError as exc:
            raise KustodianError(f"cannot create the render cache dir: {exc.strerror}",
                                 file=where, hint="point it at a writable dir") from None
        if not stat.S_ISDIR(info.st_mode):
            raise KustodianError("the render cache is not a dir", file=where)
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise KustodianError(
                "the render cache dir is writable by other users (or not owned by this one)",
                file=where, hint=f"chmod go-w {real}, or use a dir of your own")
        entries = real / _ENTRIES
        try:
            entries.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise KustodianError(f"cannot create the render cache dir: {exc.strerror}",
                                 file=where) from None
        return cls(entries)

    # --- keys ---------------------------------------------------------------------------
    def key(self, built: Path, kustomize: str, mode: str) -> str | None:
        """The key of `kustomize build built` in `mode`, or None when it cannot be keyed."""
        try:
            return _key(os.path.realpath(built), kustomize, mode)
        except (_Uncacheable, OSError):
            return None

    # --- entries ------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        """The stored output for `key`, or None (absent, truncated, corrupt, unreadable)."""
        try:
            fd = os.open(self.directory / key, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                         | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
                return None
            data = _read(fd, info.st_size)
            os.utime(fd)                       # recently used: pruned last
        except (OSError, _Uncacheable):
            return None
        finally:
            os.close(fd)
        head, _, body = data.partition(b"\n")
        if head != _MAGIC + hashlib.sha256(body).hexdigest().encode():
            return None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def put(self, key: str, text: str) -> None:
        """Store `text` under `key` atomically (temp file + rename); errors are ignored
        (a cache that cannot be written is only slower)."""
        body = text.encode("utf-8", errors="surrogateescape")
        if len(body) > MAX_ENTRY_BYTES:
            return
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n")
                handle.write(body)
            os.replace(tmp, self.directory / key)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            return
        self._prune()

    def _prune(self) -> None:
        """Keep at most MAX_ENTRIES entries (the least recently used go), and drop temp
        files a killed writer left behind an hour ago or more."""
        try:
            listing = list(os.scandir(self.directory))
        except OSError:
            return
        entries, now = [], time.time()
        for entry in listing:
            try:
                mtime = entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            if entry.name.startswith(".tmp-"):
                if now - mtime > 3600:
                    _unlink(entry.path)
            elif len(entry.name) == 64 and set(entry.name) <= _HEX:
                entries.append((mtime, entry.path))
        if len(entries) > MAX_ENTRIES:
            entries.sort()
            for _, path in entries[:len(entries) - MAX_ENTRIES * 3 // 4]:
                _unlink(path)


_OPENED: dict[tuple[str, str], RenderCache] = {}


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):     # another run pruned it first
        os.unlink(path)


def _key(built: str, kustomize: str, mode: str) -> str:
    roots, files = _reached(built)
    digest = hashlib.sha256(b"kustodian render key v1\0")
    tool = os.stat(kustomize)
    for part in (mode, os.path.realpath(kustomize), tool.st_dev, tool.st_ino, tool.st_size,
                 tool.st_mtime_ns, tool.st_ctime_ns):
        digest.update(f"{part}\0".encode())
    listing = _listing(built, roots, files)
    for kind, path, size in listing:
        name = os.fsencode(os.path.relpath(path, built))
        digest.update(b"%s %d %s %d\n" % (kind.encode(), len(name), name, size))
        if kind == "f":
            digest.update(_file_digest(path, size))
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
            raise _Uncacheable("unparsable kustomization")
        if any(ref.remote for ref in parsed.references):
            raise _Uncacheable("remote reference")
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
    names nothing (a plain string, a missing path). Raises _Uncacheable for what cannot be
    keyed: an absolute path that exists, a symlink on the way, a non-regular file."""
    if "\0" in value or "\n" in value or len(value) > 4096:
        return None
    path = os.path.normpath(os.path.join(directory, value))
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):
        return None
    if os.path.isabs(value):
        raise _Uncacheable("an absolute path")
    if os.path.realpath(path) != path:
        raise _Uncacheable("a symlink on the way")
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise _Uncacheable("not a regular file")
    return path, mode


def _listing(built: str, roots: list[str], files: list[str]) -> list[tuple[str, str, int]]:
    """(kind "d"/"f", path, size) of everything under the roots (outermost roots only) and
    of the files outside them, in a stable order; bounded by MAX_FILES and MAX_BYTES."""
    outer: list[str] = []
    for root in sorted(roots, key=len):
        if not any(root.startswith(o.rstrip(os.sep) + os.sep) for o in outer):
            outer.append(root)
    out: list[tuple[str, str, int]] = []
    total = 0

    def add(kind: str, path: str, size: int) -> None:
        nonlocal total
        total += size
        out.append((kind, path, size))
        if len(out) > MAX_FILES or total > MAX_BYTES:
            raise _Uncacheable("too much to hash")

    for root in sorted(outer):
        add("d", root, 0)
        stack = [root]
        while stack:
            with os.scandir(stack.pop()) as listing:
                entries = sorted(listing, key=lambda e: e.name)
            subdirs = []
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    add("d", entry.path, 0)
                    subdirs.append(entry.path)
                elif stat.S_ISREG(info.st_mode):
                    add("f", entry.path, info.st_size)
                else:
                    raise _Uncacheable("a symlink or special file")
            stack.extend(reversed(subdirs))
    for path in files:
        if not any(path.startswith(o.rstrip(os.sep) + os.sep) for o in outer):
            add("f", path, os.lstat(path).st_size)
    return out


def _file_digest(path: str, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _Uncacheable("not a regular file")
        return hashlib.sha256(_read(fd, size)).digest()
    finally:
        os.close(fd)


def _read(fd: int, size: int) -> bytes:
    """Exactly `size` bytes of a regular file: more or fewer means it changed meanwhile
    (or is not what stat says, as /proc files are) and cannot be keyed."""
    chunks, left = [], size + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    if len(data) != size:
        raise _Uncacheable("changed while read")
    return data
