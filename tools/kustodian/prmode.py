"""Pull-request mode of `kustodian check`: new / fixed / unchanged findings against a base ref.

Interface (called by `kustodian check --base-ref REF`):

    PrResult(report, fixed, affected, markdown)
    run_pr_check(repo_root, base_ref, overlays, run_check, *, prepare=None, env_of=None,
                 git=None) -> PrResult

`overlays` are the repository-relative kustomization dirs the check would cover at HEAD: a
list, or an OverlayScope (kustodian.discover.DiscoveryScope) that answers for the few dirs a
change reaches, so a one-file change in a monorepo never walks the whole tree.
`run_check(tree, overlays) -> Report` runs the ordinary check of those overlays in `tree`;
`prepare(tree, overlays)` is told each side's overlays first (the CLI starts their renders).
`always(changed)` names overlays checked on every change (those holding Argo CD
Applications: their targets read anywhere in the tree); with any, the whole base is extracted.

Cost on a one-file change (what a monorepo PR pays): the work-tree listing, two diffs, one
`cat-file` of the kustomization files' index blobs, a regex pass over their text per level
of the kustomization graph, the YAML parse of the few that may name a changed path, and
git reads of the affected overlays' inputs at the base; then the checks of those overlays.

1. `base_ref` is resolved to a commit, and the base revision is the merge base of it and
   HEAD (the point the branch forked from), so changes that landed on the base branch since
   are not shown as reverts. An unknown ref is a KustodianError.
2. Changed paths: `git diff --name-only --no-renames <base>` (committed, staged and unstaged
   changes) plus untracked, non-ignored files.
3. Affected overlays: an overlay is affected when a changed path is one of its inputs - the
   files its kustomization reads, transitively: resources, bases, components, patches (all
   forms), configMap/secret generator files and envs, configurations, crds, openapi,
   replacements, generators/transformers/validators, helm values files and chart home.
   They are parsed at HEAD; that suffices, because an overlay whose HEAD inputs are all
   unchanged has the same kustomization files, so the same inputs, at the base. Any change to
   a repository-wide input (GLOBAL_INPUTS: the config, the Rego, the Dockerfile) affects
   every overlay. New overlays (kustomization added) and deleted ones (kustomization removed
   under the scope's `tops`, or listed by the base's .kustodian.yaml) are affected too. A
   changed file nobody reads affects nothing, and then no check runs at all.
4. The base revision of only what the affected overlays read (their inputs parsed from the
   base commit with `git cat-file --batch`, plus GLOBAL_INPUTS) is extracted with
   `git archive <commit> <paths> | tar -x` into a temp dir, removed afterwards.
   That tree has no `.git` and no tool caches: run_check must take its tools from the real
   repository, not from `tree`.
5. run_check(base_tree, affected present at the base) and run_check(repo_root, affected present
   at HEAD); each HEAD finding is "new" or "unchanged" by Finding.fingerprint() (counted, so
   a duplicated finding is new once), base findings missing at HEAD are returned as "fixed".
   A base revision that fails to check is reported in the summary, and all HEAD findings of
   it count as new (never the other way round: a PR can fix a broken base).
6. `markdown`: counts, tables of new and fixed findings (file:line), and a collapsible
   unified diff of the rendered manifests per environment and overlay, truncated to stay
   within a GitHub comment (65,536 characters).
"""

from __future__ import annotations

import bisect
import difflib
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from kustodian.errors import KustodianError
from kustodian.kustomize import model
from kustodian.kustomize.files import NAMES
from kustodian.kustomize.model import resolve as _resolve
from kustodian.model import Finding, Report, group_by_source
from kustodian.report import md
from kustodian.yamlio import read_bytes

GLOBAL_INPUTS = (".kustodian.yaml", "policies", "Dockerfile")
MAX_TABLE_ROWS = 100
MAX_DIFF_LINES = 400
MAX_MARKDOWN_CHARS = 60_000
_MAX_KUSTOMIZATION_BYTES = model.MAX_BYTES
_MAX_ARGS_CHARS = 100_000


@dataclass
class PrResult:
    """The HEAD report with statuses, the fixed findings, the affected overlays, the summary."""

    report: Report
    fixed: list[Finding]
    affected: list[str]
    markdown: str


def run_pr_check(repo_root: Path, base_ref: str, overlays: list[str] | OverlayScope,
                 run_check: Callable[[Path, list[str]], Report], *,
                 prepare: Callable[[Path, list[str]], None] | None = None,
                 env_of: Callable[[str], str | None] | None = None,
                 git: Git | None = None,
                 always: Callable[[set[str]], list[str]] | None = None) -> PrResult:
    """Check only what the change can affect, at the base and at HEAD, and compare.

    `overlays`: the HEAD overlays as a list, or an OverlayScope that answers for the few
    affected dirs without listing the whole repository. `prepare(tree, overlays)`, when
    given, is called as soon as a side's overlays are known (before run_check on them), e.g.
    to start their renders early. `env_of(overlay)` labels the Markdown's env sections
    (default: read from the repository's .kustodian.yaml). `git`: a Git of `repo_root`
    made earlier (its work-tree listing may already be running, see Git.start_listing)."""
    started = time.perf_counter()
    root = Path(repo_root)
    git = git or Git(root)
    base = git.resolve(base_ref)
    changed = git.changed_paths(base.commit)
    scope = ListedOverlays(root, overlays) if isinstance(overlays, list) else overlays
    with GitReader(git, base.commit) as base_reader:
        head_reader = FsReader(root)
        affected = _affected(scope, changed, head_reader, base_reader, git)
        # Targets checked whatever changed (the Argo CD objects: what they deploy is read
        # from anywhere in the tree, so their base is the whole base tree).
        extra = always(changed) if always is not None and changed else []
        affected = list(dict.fromkeys([*affected, *extra]))
        timings = {"pr_affected_s": round(time.perf_counter() - started, 4)}
        in_base = [o for o in affected if base_reader.kustomization(o)]
        in_head = [o for o in affected if head_reader.kustomization(o)]
        if prepare is not None and in_head:
            prepare(root, in_head)
        base_report, base_problem = Report(), None
        if in_base:
            tree = Path(tempfile.mkdtemp(prefix="kustodian-base-"))
            try:
                t0 = time.perf_counter()
                git.extract(base.commit, [""] if extra else _base_paths(in_base, base_reader),
                            tree)
                timings["pr_materialize_s"] = round(time.perf_counter() - t0, 4)
                t0 = time.perf_counter()
                try:
                    if prepare is not None:
                        prepare(tree, in_base)
                    base_report = run_check(tree, in_base)
                except KustodianError as exc:
                    base_problem = str(exc)
                timings["pr_base_check_s"] = round(time.perf_counter() - t0, 4)
            finally:
                shutil.rmtree(tree, ignore_errors=True)
    t0 = time.perf_counter()
    head_report = run_check(root, in_head) if in_head else Report()
    timings["pr_head_check_s"] = round(time.perf_counter() - t0, 4)
    report, fixed = classify(head_report, base_report)
    report.timings.update(timings)
    envs = ({o: env_of(o) or "" for o in affected} if env_of is not None
            else _env_labels(root, affected))
    markdown = render_markdown(base, changed, affected, report, fixed, base_report, envs,
                               base_problem)
    return PrResult(report=report, fixed=fixed, affected=affected, markdown=markdown)


class OverlayScope(Protocol):
    """The overlays a full check covers at HEAD, asked about lazily.

    `tops`: the dirs the overlays are looked for under (a kustomization deleted under one of
    them was an overlay; "." is the whole repository). `all()`: every overlay, in check
    order. `among(dirs)`: the overlays among the given repository-relative dirs, in check
    order (what `all()` holds of them)."""

    tops: frozenset[str]

    def all(self) -> list[str]: ...

    def among(self, dirs: set[str]) -> list[str]: ...


class ListedOverlays:
    """An OverlayScope over an explicit list of overlay dirs."""

    def __init__(self, root: Path, overlays: list[str]) -> None:
        self.overlays = list(dict.fromkeys(_relative(root, o) for o in overlays))
        self.tops = frozenset(o.split("/", 1)[0] for o in self.overlays) - {"."}

    def all(self) -> list[str]:
        return list(self.overlays)

    def among(self, dirs: set[str]) -> list[str]:
        return [o for o in self.overlays if o in dirs]


# --- git ---------------------------------------------------------------------------------


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
            for entry in out.split("\0"):
                if entry.startswith("? "):
                    self._listing.append((entry[2:], False))
                    continue
                meta, tab, path = entry[2:].partition("\t")
                if not tab:
                    continue
                self._listing.append((path, True))
                if path.endswith(NAMES):
                    mode, _, rest = meta.partition(" ")
                    self._index_blobs[path] = (entry[0], mode, rest)
        return self._listing

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


# --- reading kustomizations in a revision -----------------------------------------------


class FsReader:
    """Files of the work tree (HEAD plus uncommitted changes)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, path: str) -> bytes | None:
        try:   # regular files inside the tree only, bounded
            return read_bytes(self.root / path, path, root=self.root)
        except KustodianError:
            return None

    def is_dir(self, path: str) -> bool:
        return (self.root / path).is_dir()

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()

    def kustomization(self, directory: str) -> str | None:
        for name in NAMES:
            candidate = posixpath.join(directory, name)
            if (self.root / candidate).is_file():
                return candidate
        return None


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


@dataclass
class Inputs:
    """What a kustomization reads: files, and dirs read whole (e.g. a helm chart home)."""

    files: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)

    def add(self, other: Inputs) -> None:
        self.files |= other.files
        self.dirs |= other.dirs

    def touched_by(self, changed: set[str]) -> bool:
        return bool((self.files | self.dirs) & with_parents(changed))

    def paths(self) -> set[str]:
        return self.files | self.dirs


class InputCollector:
    """Computes, with memoisation, the inputs of kustomization dirs in one revision."""

    def __init__(self, reader: FsReader | GitReader) -> None:
        self.reader = reader
        self._memo: dict[str, Inputs] = {}
        self._direct: dict[str, tuple[set[str], set[str], set[str]]] = {}
        self._active: set[str] = set()

    def inputs(self, directory: str) -> Inputs:
        directory = posixpath.normpath(directory)
        if directory in self._memo:
            return self._memo[directory]
        if directory in self._active:                  # a cycle: kustomize reports it
            return Inputs()
        self._active.add(directory)
        try:
            result = self._collect(directory)
        finally:
            self._active.discard(directory)
        self._memo[directory] = result
        return result

    def _collect(self, directory: str) -> Inputs:
        files, dirs, kustomizations = self.direct(directory)
        result = Inputs(files=set(files), dirs=set(dirs))
        for child in kustomizations:
            result.add(self.inputs(child))
        return result

    def direct(self, directory: str) -> tuple[set[str], set[str], set[str]]:
        """What one kustomization names itself: (files, dirs read whole, kustomization dirs).
        Its own kustomization file names count as files, so adding or renaming one counts."""
        if directory in self._direct:
            return self._direct[directory]
        files = {posixpath.join(directory, n) for n in NAMES}
        dirs: set[str] = set()
        kustomizations: set[str] = set()
        kfile = self.reader.kustomization(directory)
        parsed = model.parse(self.reader.read(kfile)) if kfile else None
        for ref in parsed.references if parsed else ():
            path = _resolve(directory, ref.path)
            if path is None:
                continue
            if ref.kind == "dir":
                dirs.add(path)
            elif ref.kind == "any" and self.reader.is_dir(path):
                kustomizations.add(path)
            else:
                files.add(path)
        self._direct[directory] = (files, dirs, kustomizations)
        return self._direct[directory]


# --- which overlays a change affects ------------------------------------------------------


def _is_global(path: str) -> bool:
    return any(path == g or path.startswith(g + "/") for g in GLOBAL_INPUTS)


def _affected(scope: OverlayScope, changed: set[str], head: FsReader, base: GitReader,
              git: Git) -> list[str]:
    """The HEAD overlays the change affects, then the overlays it deleted, in check order."""
    if not changed:
        return []
    deleted = deleted_overlays(scope.tops, changed, head, base)
    if any(_is_global(path) for path in changed):
        return list(dict.fromkeys([*scope.all(), *deleted]))
    dirs = git.kustomization_dirs()
    reached = reached_dirs(changed, head, dirs, git.indexed_kustomization_texts(dirs))
    return list(dict.fromkeys([*scope.among(reached), *(d for d in deleted if d in reached)]))


def deleted_overlays(tops: Iterable[str], changed: set[str], head: FsReader,
                     base: GitReader) -> list[str]:
    """Overlays the change deleted: a kustomization (not a Component) present at the base,
    gone at HEAD, under one of `tops` (e.g. `overlays`) or listed as an overlay by the base
    revision's .kustodian.yaml. Its kustomization file is a changed path, so only those are
    looked at (the base config is read only when one lies outside `tops`)."""
    configured: set[str] | None = None
    result = []
    for directory in sorted({posixpath.dirname(p) for p in changed
                             if posixpath.basename(p) in NAMES}):
        if head.kustomization(directory):
            continue
        if not any(t == "." or directory == t or directory.startswith(t + "/") for t in tops):
            if configured is None:
                listed = _load_mapping(base.read(".kustodian.yaml")).get("overlays")
                configured = ({posixpath.normpath(str(o).rstrip("/")) for o in listed}
                              if isinstance(listed, dict) else set())
            if directory not in configured:
                continue
        kfile = base.kustomization(directory)
        parsed = model.parse(base.read(kfile)) if kfile else None
        if kfile and not (parsed is not None and parsed.is_component):
            result.append(directory)
    return result


def _load_mapping(raw: bytes | None) -> dict:
    """A YAML mapping file's data ({} when missing or not a mapping)."""
    parsed = model.parse(raw)
    return parsed.data if parsed is not None else {}


def _relative(root: Path, overlay: str) -> str:
    """An overlay as a normalised repository-relative posix path (absolute ones too)."""
    path = Path(overlay)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(root.resolve())
        except ValueError:
            raise KustodianError("overlay is outside the repository", file=overlay) from None
    return posixpath.normpath(path.as_posix().rstrip("/") or ".")


def affected_overlays(overlays: list[str], changed: set[str], head: FsReader,
                      kustomization_dirs: Iterable[str] | None = None) -> list[str]:
    """The overlays whose inputs (at HEAD, see the module docstring) include a changed path:
    `reached_dirs` when every kustomization dir is given, else the forward closure."""
    if not changed:
        return []
    if any(_is_global(path) for path in changed):
        return list(overlays)
    if kustomization_dirs is None:
        return affected_overlays_forward(overlays, changed, head)
    reached = reached_dirs(changed, head, kustomization_dirs)
    return [o for o in overlays if posixpath.normpath(o) in reached]


def reached_dirs(changed: set[str], head: FsReader, kustomization_dirs: Iterable[str],
                 known_texts: dict[str, str] | None = None) -> set[str]:
    """The kustomization dirs whose inputs include a changed path, searched backwards.

    A one-file change in a monorepo reads every kustomization file once but parses only the
    few that can name a changed path: start from the kustomizations naming a changed file
    (or whose own kustomization file changed), then climb to the kustomizations naming
    those, and so on. A kustomization can only name a path through a string ending in that
    path's last component (or in `.`/`..`), which a text scan finds. `known_texts`: dir ->
    kustomization text already read (the rest is read from the work tree)."""
    collector = InputCollector(head)
    texts = KustomizationTexts(head, kustomization_dirs, known_texts)
    reached = {posixpath.dirname(p) for p in changed if posixpath.basename(p) in
               NAMES}
    hit = with_parents(changed)
    for directory in texts.naming(hit, hit):
        files, dirs, _ = collector.direct(directory)
        if (files | dirs) & hit:
            reached.add(directory)
    frontier = set(reached)
    while frontier:
        nxt = set()
        for directory in texts.naming(frontier, frontier) - reached:
            if collector.direct(directory)[2] & frontier:
                nxt.add(directory)
        reached |= nxt
        frontier = nxt
    return reached


def affected_overlays_forward(overlays: list[str], changed: set[str],
                              head: FsReader) -> list[str]:
    """The same answer computed forwards, overlay by overlay (simple, slower on monorepos)."""
    collector = InputCollector(head)
    return [o for o in overlays if collector.inputs(o).touched_by(changed)]


def with_parents(paths: set[str]) -> set[str]:
    """The paths and every dir above them: a reference to a dir is hit by changes inside it
    (also when the dir is gone, so a deleted component still marks its users)."""
    result = set(paths)
    for path in paths:
        parent = posixpath.dirname(path)
        while parent and parent not in result:
            result.add(parent)
            parent = posixpath.dirname(parent)
    return result


def _read_prefix(path: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of a file (os-level calls: thousands are read per run)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks, size = [], 0
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _kustomization_text(reader: FsReader, directory: str) -> str | None:
    base = os.path.join(reader.root, directory)
    for name in NAMES:
        raw = _read_prefix(os.path.join(base, name), _MAX_KUSTOMIZATION_BYTES)
        if raw is not None:
            return raw.decode("utf-8", errors="replace")
    return None


_DOTS = re.compile(r"\.\.?/?(?=[\s\"'\],#\0]|$)", re.MULTILINE)
_TOKEN = re.compile(r"[^\s\"'\[\],#=\0]+")
_DELIMITERS = " \t\r\n\"'[],#=\0"           # what ends a path-like token in YAML text
_TOKEN_START = _DELIMITERS + "/"
_SEPARATOR = "\0"                           # between two files in KustomizationTexts.text


def _has_dots_ref(text: str) -> bool:
    """Whether the text may hold a reference ending in `.` or `..` (e.g. `resources: [..]`)."""
    return any(m.start() == 0 or text[m.start() - 1] in _TOKEN_START
               for m in _DOTS.finditer(text))


def _token_ending_at(text: str, start: int, end: int) -> str:
    """The whole token (path-like word) that ends with text[start:end]."""
    while start > 0 and text[start - 1] not in _DELIMITERS:
        start -= 1
    return text[start:end]


def _lands_outside(directory: str, token: str, parents: set[str]) -> bool:
    """A cheap test that `token`, relative to `directory`, cannot resolve to a path under
    `parents` (a set closed under dirname): it climbs `../` to a dir, then only descends."""
    rest, base = token, directory
    while rest.startswith("../"):
        if not base:
            return False                  # leaves the repository: let _resolve decide
        rest, base = rest[3:], posixpath.dirname(base)
    if rest.startswith(("/", "..")) or "/.." in rest:
        return False                      # absolute or climbing midway: the full test
    return bool(base) and base not in parents


class KustomizationTexts:
    """Every kustomization file's text, read once and joined into one string (NUL between
    files), so each search step is one regex pass instead of one per file."""

    def __init__(self, reader: FsReader, directories: Iterable[str],
                 known: dict[str, str] | None = None) -> None:
        self.dirs: list[str] = []
        starts: list[int] = []
        parts: list[str] = []
        offset = 0
        known = known or {}
        for directory in directories:
            text = known.get(directory)
            if text is None:
                text = _kustomization_text(reader, directory)
            if text is None:
                continue
            self.dirs.append(directory)
            starts.append(offset)
            parts.append(text)
            offset += len(text) + 1
        self.starts = starts
        self.text = _SEPARATOR.join(parts)
        self.with_dots = [(d, parts[i]) for i, d in enumerate(self.dirs)
                          if _has_dots_ref(parts[i])]

    def _dir_at(self, position: int) -> str:
        return self.dirs[bisect.bisect_right(self.starts, position) - 1]

    def naming(self, paths: Iterable[str], targets: set[str]) -> set[str]:
        """Kustomization dirs whose text holds a token that resolves, relative to the dir, to
        one of `targets`: a superset of the dirs naming them (the caller parses these few).
        A reference to a path ends with the path's last component, or with `.`/`..`."""
        names = {posixpath.basename(p.rstrip("/")) for p in paths} - {"", ".", ".."}
        found: set[str] = set()
        if names and self.dirs:
            alternatives = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
            endings = re.compile(r"(?:" + alternatives + r")/?(?=[\s\"'\],#\0]|$)",
                                 re.MULTILINE)
            parents = with_parents(targets)
            text = self.text
            for match in endings.finditer(text):
                start = match.start()
                if start and text[start - 1] not in _TOKEN_START:
                    continue              # e.g. `app-prod`: its last component is no name
                directory = self._dir_at(start)
                if directory in found:
                    continue
                token = _token_ending_at(text, start, match.end())
                token = token.rstrip("/") or token
                if _lands_outside(directory, token, parents):
                    continue
                if _resolve(directory, token) in targets:
                    found.add(directory)
        for directory, text in self.with_dots:
            if directory not in found and any(
                    _resolve(directory, token.rstrip("/") or token) in targets
                    for token in _TOKEN.findall(text)):
                found.add(directory)
        return found


def _base_paths(overlays: list[str], base: GitReader) -> list[str]:
    """What to extract from the base commit: the overlays' inputs there, and GLOBAL_INPUTS."""
    collector = InputCollector(base)
    wanted: set[str] = set()
    for overlay in overlays:
        wanted |= collector.inputs(overlay).paths()
    wanted |= set(GLOBAL_INPUTS)
    return sorted(p for p in wanted if base.exists(p))


# --- classification -------------------------------------------------------------------------


def classify(head: Report, base: Report) -> tuple[Report, list[Finding]]:
    """HEAD findings marked new/unchanged (a copy of `head`), and the fixed base findings."""
    remaining = Counter(f.fingerprint() for f in base.findings)
    marked = []
    for finding in head.findings:
        key = finding.fingerprint()
        if remaining[key] > 0:
            remaining[key] -= 1
            marked.append(replace(finding, status="unchanged"))
        else:
            marked.append(replace(finding, status="new"))
    still = Counter(f.fingerprint() for f in head.findings)
    fixed = []
    for finding in base.findings:
        key = finding.fingerprint()
        if still[key] > 0:
            still[key] -= 1
        else:
            fixed.append(replace(finding, status="fixed"))
    report = replace(head, findings=marked, timings=dict(head.timings))
    return report, fixed


# --- the Markdown summary ---------------------------------------------------------------------


def _env_labels(repo_root: Path, overlays: list[str]) -> dict[str, str]:
    try:
        from kustodian.config import load_config

        config = load_config(repo_root)
        return {o: config.env_for(o) or "" for o in overlays}
    except (KustodianError, ImportError, OSError):
        return {o: "" for o in overlays}


# Everything below that comes from the checked tree (paths, names, images, messages, error
# texts) goes through report.md: it renders as text, never as Markdown, HTML or a mention.
_cell = md.text


def _resource(f: Finding) -> str:
    if not f.kind:
        return ""
    ident = f"{f.kind}/{f.namespace + '/' if f.namespace else ''}{f.name or ''}"
    return md.code(f"{ident} [{f.container}]" if f.container else ident)


def _location(f: Finding) -> str:
    if f.file:
        return md.code(f"{f.file}:{f.line}" if f.line else f.file)
    return md.code(f.overlay) if f.overlay else ""


def _table(findings: list[Finding]) -> list[str]:
    """One row per source line (findings identical across targets are grouped, with the
    targets they reach); JSON/SARIF keep every target."""
    rows = ["| severity | rule | env | resource | location | message |",
            "|---|---|---|---|---|---|"]
    groups = sorted(group_by_source(findings), key=lambda g: (
        -int(g.first.severity), g.first.rule, g.first.file or "", g.first.line or 0))
    for g in groups[:MAX_TABLE_ROWS]:
        f = g.first
        envs = _cell(", ".join(g.envs))
        note = g.targets_note()
        where = f"{envs}<br>{_cell(note)}" if note else envs
        rows.append(f"| {_cell(f.severity)} | {md.code(f.rule)} | {where} | "
                    f"{_resource(f)} | {_location(f)} | {_cell(f.message)} |")
    if len(groups) > MAX_TABLE_ROWS:
        rows.append(f"\n_... and {len(groups) - MAX_TABLE_ROWS} more (see the SARIF/JSON "
                    f"output)._")
    return rows


def rendered_diff(overlay: str, before: str, after: str) -> tuple[list[str], int, int]:
    """Unified diff lines of one overlay's rendered YAML, with added/removed line counts."""
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                      fromfile=f"a/{overlay} (base)", tofile=f"b/{overlay}",
                                      lineterm="", n=3))
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return lines, added, removed


def render_markdown(base: BaseRevision, changed: set[str], affected: list[str], report: Report,
                    fixed: list[Finding], base_report: Report, envs: dict[str, str],
                    base_problem: str | None = None) -> str:
    """The PR comment: counts, new and fixed findings, rendered-manifest diffs per env."""
    new = [f for f in report.findings if f.status == "new"]
    unchanged = [f for f in report.findings if f.status == "unchanged"]
    out = ["## kustodian: policy gate for this pull request", "",
           f"Compared with {md.code(base.ref, table=False)} (merge base "
           f"{md.code(base.commit[:12], table=False)}): "
           f"{len(changed)} changed file(s), {len(affected)} affected overlay(s)"
           + (": " + ", ".join(md.code(o, table=False) for o in affected)
              if affected else "."), ""]
    if not affected:
        out.append("No overlay reads a changed file, so nothing was rendered or checked.")
        return "\n".join(out) + "\n"
    verdict = "**no new findings**" if not new else f"**{len(new)} new finding(s)**"
    out += [f"Result: {verdict}.", "", "| new | fixed | unchanged |", "|---|---|---|",
            f"| {len(new)} | {len(fixed)} | {len(unchanged)} |", ""]
    if base_problem:
        out += [f"> The base revision could not be checked, so every finding counts as new: "
                f"{_cell(base_problem)}", ""]
    for error in base_report.errors:
        out += [f"> Base revision: {_cell(error)}", ""]
    for error in report.errors:
        out += [f"> **Error**: {_cell(error)}", ""]
    if new:
        out += [f"### New findings ({len(new)})", "", *_table(new), ""]
    if fixed:
        out += [f"### Fixed findings ({len(fixed)})", "", *_table(fixed), ""]
    out += ["### Rendered manifest changes", ""]
    body = "\n".join(out)
    budget = MAX_MARKDOWN_CHARS - len(body)
    sections = _diff_sections(affected, report, base_report, envs, budget)
    return body + "\n" + "\n".join(sections) + "\n"


def _diff_sections(affected: list[str], report: Report, base_report: Report,
                   envs: dict[str, str], budget: int) -> list[str]:
    by_env: dict[str, list[str]] = {}
    for overlay in affected:
        by_env.setdefault(envs.get(overlay) or "(no env)", []).append(overlay)
    out: list[str] = []
    for env in sorted(by_env):
        out += [f"#### {_cell(env)}", ""]
        for overlay in sorted(by_env[env]):
            before = base_report.rendered.get(overlay, "")
            after = report.rendered.get(overlay, "")
            lines, added, removed = rendered_diff(overlay, before, after)
            if not lines:
                out += [f"- {md.code(overlay, table=False)}: no change in the rendered "
                        "manifests", ""]
                continue
            note = ""
            if len(lines) > MAX_DIFF_LINES:
                note = (f"\n_Diff truncated: {len(lines) - MAX_DIFF_LINES} more lines; run "
                        f"`kustodian check --base-ref <ref>` locally to see all._\n")
                lines = lines[:MAX_DIFF_LINES]
            fence = md.fence(lines)
            block = "\n".join([f"<details><summary><code>{md.attr(overlay)}</code>: +{added} "
                               f"&minus;{removed} lines</summary>", "", f"{fence}diff",
                               *lines, fence, note, "</details>", ""])
            if len(block) > budget:
                block = (f"- {md.code(overlay, table=False)}: +{added} &minus;{removed} lines "
                         f"(diff left out: the comment would exceed GitHub's size limit)\n")
            budget -= len(block)
            out.append(block)
    return out
