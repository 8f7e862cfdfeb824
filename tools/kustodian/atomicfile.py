"""Writing a file whole or not at all: the one way kustodian replaces a file (release edits,
report outputs, cache entries, conftest's staged inputs)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int | None = None, durable: bool = False,
                 temp_prefix: str | None = None) -> None:
    """Write `data` to a temp file beside `path` (named `temp_prefix`..., else `.<name>.`...),
    then rename it over `path`: a reader sees the old file or the new one, never a part.
    `mode`: the file's permissions (default: the replaced regular file's, else 0o644; a
    symlink at `path` is replaced, never followed, and lends no permissions). `durable`:
    fsync the data before the rename (an edit a crash must not lose). An OSError leaves
    nothing behind and is raised."""
    path = Path(path)
    if mode is None:
        mode = _replaced_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix or f".{path.name}.", suffix=".tmp",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _replaced_mode(path: Path) -> int:
    """The permissions of the regular file at `path` (not followed), else 0o644."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return 0o644
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else 0o644
