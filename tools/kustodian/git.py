"""The one git module: a work tree's git commands with clear errors, and reading a commit.

`Git` runs the few commands the gate needs at the work tree top (resolve a ref and its merge
base, changed and untracked paths, the work-tree listing with index blobs, `git archive` of a
few paths); `GitReader` reads files and dirs of one commit through a single
`git cat-file --batch` process. PR mode uses both; release is to move onto it.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.kustomize import model
from kustodian.kustomize.files import NAMES

_MAX_KUSTOMIZATION_BYTES = model.MAX_BYTES
_MAX_ARGS_CHARS = 100_000



@dataclass(frozen=True)
class BaseRevision:
    ref: str
    commit: str           # the merge base actually compared against
    ref_commit: str       # what `ref` points at


class Git:
    """The few git commands PR mode needs, run at the work tree top with clear errors."""

    def __init__(self, repo_root: Path) -> None:
        self.root = repo_root
        top = self._run(["rev-parse", "--show-toplevel"], cwd=repo_root,
                        what="find the git work tree").strip()
        self.top = Path(top)
        rel = os.path.relpath(os.path.realpath(repo_root), os.path.realpath(top))
        self.prefix = "" if rel == "." else Path(rel).as_posix() + "/"

    def _start(self, args: list[str], *, what: str, cwd: Path | None = None
               ) -> subprocess.Popen:
        try:
            return subprocess.Popen(["git", "--literal-pathspecs", *args], cwd=cwd or self.top,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True)
        except OSError as exc:
            raise KustodianError(f"cannot run git to {what}: {exc.strerror}",
                                 hint="install git; --base-ref needs a git checkout") from None

    def _finish(self, proc: subprocess.Popen, *, what: str, cwd: Path | None = None,
                ok: tuple[int, ...] = (0,)) -> str:
        out, err = proc.communicate()
        if proc.returncode not in ok:
            detail = err.strip() or f"exit status {proc.returncode}"
            raise KustodianError(f"git failed to {what}: {detail}", file=str(cwd or self.top),
                                 hint="--base-ref needs a git checkout with the base history")
        return out

    def _run(self, args: list[str], *, what: str, cwd: Path | None = None,
             ok: tuple[int, ...] = (0,)) -> str:
        return self._finish(self._start(args, what=what, cwd=cwd), what=what, cwd=cwd, ok=ok)

    def resolve(self, ref: str) -> BaseRevision:
        if not ref or ref.startswith("-"):
            raise KustodianError(f"invalid --base-ref {ref!r}", hint="pass a branch, tag or commit")
        out = self._run(["rev-parse", "--verify", "--quiet", "--end-of-options",
                         f"{ref}^{{commit}}"], what=f"resolve {ref}", ok=(0, 1)).strip()
        if not out:
            raise KustodianError(
                f"unknown --base-ref {ref!r}: no such branch, tag or commit in this clone",
                hint="fetch it first (`git fetch origin main`; in CI use actions/checkout "
                     "with fetch-depth: 0), or check the spelling")
        merge_base = self._run(["merge-base", out, "HEAD"], what="find the merge base",
                               ok=(0, 1)).strip()
        return BaseRevision(ref=ref, commit=merge_base or out, ref_commit=out)

    def start_listing(self) -> None:
        """Start listing the work tree (tracked files with their index blob, untracked ones:
        a walk of every dir, the slowest git step on a monorepo) in the background;
        `_worktree_files` waits for it."""
        if not hasattr(self, "_listing") and getattr(self, "_listing_proc", None) is None:
            self._listing_proc = self._start(["ls-files", "-z", "-t", "-s", "--cached",
                                              "--others", "--exclude-standard"],
                                             cwd=self.root, what="list the work tree")

    def changed_paths(self, commit: str) -> set[str]:
        """Paths changed since `commit` (committed, staged, unstaged) plus untracked ones.
        The work-tree listing and the index-vs-work-tree diff run alongside."""
        self.start_listing()
        unstaged = self._start(["diff", "--name-only", "--no-renames", "-z", "--"],
                               what="list unstaged changes")
        try:
            diff = self._run(["diff", "--name-only", "--no-renames", "-z", commit, "--"],
                             what="list changed files")
        finally:
            self._unstaged = self._paths(self._finish(unstaged, what="list unstaged changes"))
        return self._paths(diff) | {path for path, tracked in self._worktree_files()
                                    if not tracked}

    def _paths(self, out: str) -> set[str]:
        """NUL-separated work-tree-top paths as repository-relative ones (others dropped)."""
        return {p[len(self.prefix):] for p in out.split("\0") if p and p.startswith(self.prefix)}

    def _worktree_files(self) -> list[tuple[str, bool]]:
        """(path relative to the repository root, tracked?) for the work tree, listed once;
        the index blob of each tracked kustomization file is kept aside."""
        if not hasattr(self, "_listing"):
            self.start_listing()
            out = self._finish(self._listing_proc, what="list the work tree", cwd=self.root)
            self._listing_proc = None
            self._listing = []
            self._index_blobs: dict[str, tuple[str, str, str]] = {}
            self._links: list[str] = []
            for entry in out.split("\0"):
                if entry.startswith("? "):
                    self._listing.append((entry[2:], False))
                    if os.path.islink(os.path.join(self.root, entry[2:])):
                        self._links.append(entry[2:])
                    continue
                meta, tab, path = entry[2:].partition("\t")
                if not tab:
                    continue
                self._listing.append((path, True))
                if meta.startswith("120000 "):
                    self._links.append(path)
                if path.endswith(NAMES):
                    mode, _, rest = meta.partition(" ")
                    self._index_blobs[path] = (entry[0], mode, rest)
        return self._listing

    def symlinks(self) -> dict[str, str]:
        """Symlinks of the work tree: link path -> target path (both repository-relative;
        "" for the root). One leading outside the repository is a KustodianError."""
        self._worktree_files()
        real_root = os.path.realpath(self.root)
        out: dict[str, str] = {}
        for link in self._links:
            target = os.path.relpath(os.path.realpath(os.path.join(self.root, link)), real_root)
            if target == ".." or target.startswith("../") or os.path.isabs(target):
                raise KustodianError(
                    "symlink leads outside the repository", file=link,
                    hint="kustomize and Argo CD would read files the gate cannot see: copy "
                         "them into the repository or remove the link")
            out[link] = "" if target == "." else target.replace(os.sep, "/")
        return out

    def kustomization_dirs(self) -> list[str]:
        """Dirs holding a kustomization file in the work tree (tracked or untracked)."""
        return sorted({posixpath.dirname(path) for path, _ in self._worktree_files()
                       if path.endswith(NAMES)
                       and posixpath.basename(path) in NAMES})

    def indexed_kustomization_texts(self, directories: Iterable[str]) -> dict[str, str]:
        """dir -> its kustomization file's text, for the dirs whose file (the one a read of
        the work tree picks) is a tracked regular file without unstaged changes: its bytes
        are then the index blob's, read for all at once by one `git cat-file --batch` instead
        of file by file. Other dirs are left out (read them from the work tree)."""
        self._worktree_files()
        if not hasattr(self, "_unstaged"):
            self._unstaged = self._paths(self._run(
                ["diff", "--name-only", "--no-renames", "-z", "--"],
                what="list unstaged changes"))
        present: dict[str, list[str]] = {}
        for path, _ in self._listing:
            if path.endswith(NAMES):
                present.setdefault(posixpath.dirname(path), []).append(posixpath.basename(path))
        wanted: dict[str, str] = {}
        for directory in directories:
            names = present.get(directory, [])
            name = next((n for n in NAMES if n in names), None)
            path = posixpath.join(directory, name) if name else None
            blob = self._index_blobs.get(path) if path else None
            if (blob is None or path in self._unstaged or blob[0] != "H"
                    or blob[1] not in ("100644", "100755")):
                continue
            object_id, _, stage = blob[2].partition(" ")
            if stage == "0":
                wanted[directory] = object_id
        if not wanted:
            return {}
        try:
            proc = subprocess.run(["git", "cat-file", "--batch"], cwd=self.top,
                                  input="".join(f"{oid}\n" for oid in wanted.values()).encode(),
                                  capture_output=True, check=False)
        except OSError:
            return {}
        if proc.returncode != 0:
            return {}
        texts: dict[str, str] = {}
        data, pos = proc.stdout, 0
        for directory in wanted:
            newline = data.find(b"\n", pos)
            if newline < 0:
                break
            header = data[pos:newline].split()
            if len(header) != 3 or header[1] != b"blob":
                pos = newline + 1                  # "<oid> missing": read the work tree
                continue
            size = int(header[2])
            body = data[newline + 1:newline + 1 + min(size, _MAX_KUSTOMIZATION_BYTES)]
            texts[directory] = body.decode("utf-8", errors="replace")
            pos = newline + 1 + size + 1
        return texts

    def extract(self, commit: str, paths: list[str], dest: Path) -> None:
        """`git archive <commit> <paths> | tar -x` into dest (in chunks for long lists)."""
        for chunk in _chunks([self.prefix + p or "." for p in paths]):
            archive = subprocess.Popen(["git", "--literal-pathspecs", "archive", "--format=tar",
                                        commit, "--", *chunk], cwd=self.top,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            strip = ["--strip-components", str(self.prefix.count("/"))] if self.prefix else []
            untar = subprocess.run(["tar", "-x", "-C", str(dest), *strip], stdin=archive.stdout,
                                   capture_output=True)
            archive.stdout.close()
            err = archive.stderr.read().decode(errors="replace")
            archive.stderr.close()
            if archive.wait() != 0 or untar.returncode != 0:
                detail = err.strip() or untar.stderr.decode(errors="replace").strip()
                raise KustodianError(f"cannot extract the base revision: {detail}")


def _chunks(paths: list[str]) -> Iterable[list[str]]:
    chunk: list[str] = []
    size = 0
    for path in paths:
        if chunk and size + len(path) > _MAX_ARGS_CHARS:
            yield chunk
            chunk, size = [], 0
        chunk.append(path)
        size += len(path) + 1
    if chunk:
        yield chunk




class GitReader:
    """Files of one commit, through a single `git cat-file --batch` process.

    Asks only for what is needed: a dir's tree object (its entries, read once) to answer
    exists / is_dir / kustomization, a blob to read a file; never lists the whole commit."""

    def __init__(self, git: Git, commit: str) -> None:
        self.git = git
        self.commit = commit
        self._hash_bytes = len(commit) // 2
        self._trees: dict[str, dict[str, str] | None] = {}
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> GitReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.stdout.close()
            self._proc.wait()

    def _object(self, path: str) -> tuple[str, bytes] | None:
        """(type, content) of `<commit>:<path>`, or None when the commit has no such path."""
        if "\n" in path:
            return None
        if self._proc is None:
            self._proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.git.top,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        spec = self.git.prefix + path if path else self.git.prefix
        self._proc.stdin.write(f"{self.commit}:{spec}\n".encode("utf-8", "surrogateescape"))
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().decode("utf-8", "replace").split()
        if len(header) != 3 or not header[2].isdigit():      # "<spec> missing" / "ambiguous"
            return None
        data = self._proc.stdout.read(int(header[2]))
        self._proc.stdout.read(1)
        return header[1], data

    def _entries(self, directory: str) -> dict[str, str] | None:
        """name -> "tree" | "blob" | "commit" for a dir of the commit, None if it is none."""
        directory = "" if directory in ("", ".") else directory.strip("/")
        if directory not in self._trees:
            found = self._object(directory)
            self._trees[directory] = (_parse_tree(found[1], self._hash_bytes)
                                      if found and found[0] == "tree" else None)
        return self._trees[directory]

    def _type(self, path: str) -> str | None:
        path = posixpath.normpath(path)
        if path in ("", "."):
            return "tree"
        parent, name = posixpath.split(path)
        return (self._entries(parent) or {}).get(name)

    def is_dir(self, path: str) -> bool:
        return self._type(path) == "tree"

    def exists(self, path: str) -> bool:
        return self._type(path) is not None

    def is_file(self, path: str) -> bool:
        return self._type(path) == "blob"

    def kustomization(self, directory: str) -> str | None:
        entries = self._entries(posixpath.normpath(directory)) or {}
        for name in NAMES:
            if entries.get(name) == "blob":
                return posixpath.join(directory, name)
        return None

    def read(self, path: str) -> bytes | None:
        if self._type(path) != "blob":
            return None
        found = self._object(posixpath.normpath(path))
        return found[1] if found and found[0] == "blob" else None


def _parse_tree(data: bytes, hash_bytes: int) -> dict[str, str]:
    """The entries of a raw git tree object: `<mode> <name>\\0<binary hash>` each."""
    entries: dict[str, str] = {}
    i = 0
    while i < len(data):
        space = data.index(b" ", i)
        nul = data.index(b"\0", space)
        mode = data[i:space]
        name = data[space + 1:nul].decode("utf-8", "surrogateescape")
        entries[name] = "tree" if mode == b"40000" else "commit" if mode == b"160000" else "blob"
        i = nul + 1 + hash_bytes
    return entries
