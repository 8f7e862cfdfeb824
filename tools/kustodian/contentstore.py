"""The operator's content-keyed cache dir, shared by the render cache (kustomize/cache.py)
and the policy-result cache (conftest_runner.py): opening and vetting the dir, atomic
checksum-verified entries, LRU trimming, and the hashing helpers their keys are built from.

The dir comes from KUSTODIAN_RENDER_CACHE in the environment of whoever runs the gate, never
from the checked repository, and is refused when it lies inside the checked tree (a pull
request could commit entries into it) or is writable by other users. Each cache keeps its
entries in its own subdir whose name versions the format (`renders-v1`, `policy-v1`). An
entry is one file named by its key (64 hex digits): a header line with a magic string and
the SHA-256 of the body, then the body. Entries are written to a temp file and renamed, so
concurrent runs share the dir safely; an entry whose checksum does not match is a miss.
Past MAX_ENTRIES entries in a subdir, the least recently used are removed, by a writing
process at its first put and every TRIM_EVERY puts after (a trim lists the subdir: 3,000
puts into one took 24 CPU-s with a trim at each, 0.3 so); deleting the dir at any time is
safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from kustodian.atomicfile import write_atomic
from kustodian.errors import KustodianError

CACHE_ENV = "KUSTODIAN_RENDER_CACHE"
MAX_FILES = 5_000                # entries (files and dirs) hashed for one key
MAX_BYTES = 64 << 20             # bytes of file content hashed for one key
MAX_ENTRIES = 5_000              # entries kept per subdir; the least recently used go first
TRIM_EVERY = 500                 # a process trims a subdir at its first put and every 500th
MAX_ENTRY_BYTES = 512 << 20      # a larger entry is not read back (nor written)
_HEX = frozenset("0123456789abcdef")


class Uncacheable(Exception):
    """The inputs cannot be keyed soundly: compute for real, store nothing."""


@dataclass(frozen=True)
class ContentStore:
    """One versioned subdir of the operator's cache dir (see the module doc)."""

    directory: Path
    magic: bytes

    @classmethod
    def for_tree(cls, tree: Path, subdir: str, magic: bytes) -> ContentStore | None:
        """The `subdir` store of the dir KUSTODIAN_RENDER_CACHE names, checked against the
        tree under check; None when the variable is unset or empty. Raises KustodianError
        when the dir lies inside `tree`, is not a dir, cannot be created or is writable by
        other users."""
        configured = os.environ.get(CACHE_ENV, "")
        if not configured:
            return None
        key = (configured, os.path.realpath(tree), subdir)
        opened = _OPENED.get(key)
        if opened is None or not opened.directory.is_dir():    # checked again once removed
            opened = _OPENED[key] = cls(_open(Path(configured), Path(key[1]), subdir), magic)
        return opened

    def get(self, key: str) -> bytes | None:
        """The stored body for `key`, or None (absent, truncated, corrupt, unreadable)."""
        try:
            fd = os.open(self.directory / key, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                         | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
                return None
            data = read_exact(fd, info.st_size)
            os.utime(fd)                       # recently used: pruned last
        except (OSError, Uncacheable):
            return None
        finally:
            os.close(fd)
        head, _, body = data.partition(b"\n")
        if head != self.magic + hashlib.sha256(body).hexdigest().encode():
            return None
        return body

    def put(self, key: str, body: bytes) -> None:
        """Store `body` under `key` atomically (temp file + rename); errors are ignored
        (a cache that cannot be written is only slower)."""
        if len(body) > MAX_ENTRY_BYTES:
            return
        head = self.magic + hashlib.sha256(body).hexdigest().encode() + b"\n"
        try:
            write_atomic(self.directory / key, head + body, mode=0o600, temp_prefix=".tmp-")
        except OSError:
            return
        puts = _PUTS.get(self.directory, 0)
        _PUTS[self.directory] = puts + 1
        if puts % TRIM_EVERY == 0:     # a trim lists the whole subdir: not at every put
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
                    unlink(entry.path)
            elif len(entry.name) == 64 and set(entry.name) <= _HEX:
                entries.append((mtime, entry.path))
        if len(entries) > MAX_ENTRIES:
            entries.sort()
            for _, path in entries[:len(entries) - MAX_ENTRIES * 3 // 4]:
                unlink(path)


_OPENED: dict[tuple[str, str, str], ContentStore] = {}
_PUTS: dict[Path, int] = {}      # entries this process stored, per subdir


def _open(configured: Path, tree: Path, subdir: str) -> Path:
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
    entries = real / subdir
    try:
        entries.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise KustodianError(f"cannot create the render cache dir: {exc.strerror}",
                             file=where, hint="point it at a dir you can write") from None
    return entries


def unlink(path: str | Path) -> None:
    """Remove a file another run may have removed first."""
    with contextlib.suppress(OSError):
        os.unlink(path)


# --- key material ----------------------------------------------------------------------
def tool_identity(tool: str) -> list[object]:
    """What identifies an installed binary without reading it: its real path, device,
    inode, size, mtime and ctime (a reinstall or an edit changes one of them)."""
    info = os.stat(tool)
    return [os.path.realpath(tool), info.st_dev, info.st_ino, info.st_size,
            info.st_mtime_ns, info.st_ctime_ns]


def add_tree(digest: hashlib._Hash, base: str, roots: list[str], files: list[str] = ()) -> None:
    """Feed `digest` with everything under `roots` (names relative to `base`, kinds, sizes
    and contents) and the `files` outside them, in a stable order. Raises Uncacheable for
    a symlink or a special file in a subtree, or past MAX_FILES entries or MAX_BYTES."""
    for kind, path, size in _listing(roots, list(files)):
        name = os.fsencode(os.path.relpath(path, base))
        digest.update(b"%s %d %s %d\n" % (kind.encode(), len(name), name, size))
        if kind == "f":
            digest.update(file_digest(path, size))


def _listing(roots: list[str], files: list[str]) -> list[tuple[str, str, int]]:
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
            raise Uncacheable("too much to hash")

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
                    raise Uncacheable("a symlink or special file")
            stack.extend(reversed(subdirs))
    for path in sorted(files):
        if not any(path.startswith(o.rstrip(os.sep) + os.sep) for o in outer):
            add("f", path, os.lstat(path).st_size)
    return out


def file_digest(path: str, size: int) -> bytes:
    """The SHA-256 of a regular file of `size` bytes (no symlink followed)."""
    return hashlib.sha256(read_file(path, size)).digest()


def read_file(path: str, size: int | None = None) -> bytes:
    """The content of a regular file (no symlink followed, no FIFO opened): exactly `size`
    bytes when given. Raises Uncacheable for anything else, OSError when unreadable."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Uncacheable("not a regular file")
        return read_exact(fd, info.st_size if size is None else size)
    finally:
        os.close(fd)


def read_exact(fd: int, size: int) -> bytes:
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
        raise Uncacheable("changed while read")
    return data
