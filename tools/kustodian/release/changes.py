"""A release change: new bytes for some files, written atomically and restorable."""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass, field
from pathlib import Path

from kustodian.atomicfile import write_atomic
from kustodian.errors import KustodianError


@dataclass
class FileChange:
    path: Path
    rel: str
    old: bytes | None                # None: the file is created
    new: bytes


@dataclass
class ChangeSet:
    """What a release command moves, and the files it rewrites to do so."""

    action: str                      # "bump", "promote", "canary start", ...
    env: str
    image: str
    before: str                      # human summary of the old pin / weight
    after: str
    files: list[FileChange] = field(default_factory=list)
    overlays: list[str] = field(default_factory=list)   # affected overlay dirs (repo-relative)
    notes: list[str] = field(default_factory=list)
    source_env: str | None = None
    slug: str = ""                   # branch name part, e.g. "1.4.2-0123abcd4567"
    subject: str = ""                # commit subject (default: derived from the action)
    details: list[str] = field(default_factory=list)    # why, with numbers: the commit body
    trailers: dict[str, str] = field(default_factory=dict)   # extra `Key: value` trailers

    def add(self, path: Path, rel: str, old: bytes | None, new: bytes) -> None:
        if old == new:
            return
        for existing in self.files:
            if existing.path == path:
                existing.new = new
                return
        self.files.append(FileChange(path, rel, old, new))

    @property
    def empty(self) -> bool:
        return not self.files

    def diff(self) -> str:
        """A unified diff of every file (line endings shown as they are)."""
        chunks = []
        for change in self.files:
            old = (change.old or b"").decode("utf-8", "replace").splitlines(keepends=True)
            new = change.new.decode("utf-8", "replace").splitlines(keepends=True)
            old_name = f"a/{change.rel}" if change.old is not None else "/dev/null"
            chunks.extend(_ensure_eol(difflib.unified_diff(old, new, old_name, f"b/{change.rel}")))
        return "".join(chunks)

    def apply(self) -> None:
        """Write every file atomically; on failure restore the ones already written."""
        done: list[FileChange] = []
        try:
            for change in self.files:
                write_atomic(change.path, change.new, durable=True)
                done.append(change)
        except OSError as exc:
            self._restore(done)
            raise KustodianError(f"cannot write {change.rel}: {exc.strerror}") from None

    def restore(self) -> None:
        self._restore(self.files)

    @staticmethod
    def _restore(changes: list[FileChange]) -> None:
        for change in reversed(changes):
            if change.old is None:
                with contextlib.suppress(FileNotFoundError):
                    change.path.unlink()
            else:
                write_atomic(change.path, change.old, durable=True)


def _ensure_eol(lines):
    for line in lines:
        yield line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
