"""The one git module: a work tree's git commands with clear errors, and reading a commit.

`Git` runs the commands the gate and the release commands need. PR mode: resolve a ref and
its merge base, changed and untracked paths, the work-tree listing with index blobs, a
commit's tree (or a few paths of it) written out exactly as stored (`materialize`).
Releases: status, branches, staging and committing exactly the planned files, object ids,
fetch/rebase/push, the last commit of a path. `GitReader` reads files and dirs of one
commit through a single `git cat-file --batch` process.
The few git commands of other modules (the listing a full check discovers from, `git grep`
for Argo CD objects, the remote URLs, a `--no-index` diff of two texts) are functions here.
`Revisions` answers which tree a revision named in the repository (an Application source's
`targetRevision`, an ApplicationSet git generator's `revision`) stands for: the tree under
check, another commit of this clone (materialised once per run, `Revisions.tree`), or none
the gate can read offline. `repository_lock` serialises commands on one repository
(all its worktrees).

Paths given to and returned by `Git` are relative to the repository root it was opened on
(which may be a subdirectory of the git work tree); pathspecs are literal.

Every command runs with `command()`'s arguments and `environment()`: GIT_* variables that
would point git at another repository, index or config, or make it run a program, are
dropped; and unless the clone is the operator's own (the release commands), the repository's
config cannot make the gate's read-only commands run a program (SAFE_CONFIG, and the clone's
own filter drivers turned off).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.kustomize import model
from kustodian.kustomize.files import NAMES

_MAX_KUSTOMIZATION_BYTES = model.MAX_BYTES
_MAX_ARGS_CHARS = 100_000
# the most a materialised tree holds (Git.materialize): a commit bigger than this is refused
MAX_TREE_BYTES = 1024 * 2**20
MAX_TREE_ENTRIES = 500_000
MAX_TREES = 32          # distinct other commits written out in one run (Revisions.tree)
MAX_OPEN_READERS = 4    # `cat-file --batch` processes Revisions keeps open (most recent)
PR_HINT = "--base-ref needs a git checkout with the base history"
# a commit needs an author: this one when the repository configures none (e.g. in CI)
FALLBACK_IDENTITY = ("-c", "user.name=kustodian", "-c", "user.email=kustodian@localhost")
# A checkout's .git/config is written by whoever prepared the clone, not by the operator: the
# settings with which it could run a program in the gate's commands are overridden on the
# command line (which outranks every config file). Patch diffs also pass --no-ext-diff and
# --no-textconv; hooks are looked up in a dir that does not exist.
SAFE_CONFIG = ("-c", "core.fsmonitor=false", "-c", f"core.hooksPath={os.devnull}",
               "-c", "core.pager=cat", "-c", "log.showSignature=false")
# GIT_* variables passed on: identity, transport, tracing, and which global/system config
# files to read (the operator's). Others (GIT_DIR and GIT_INDEX_FILE of a hook that calls
# the gate, GIT_CONFIG_PARAMETERS, GIT_EXTERNAL_DIFF, GIT_*_PATHSPECS...) are dropped.
_ENV_KEPT = ("GIT_AUTHOR_", "GIT_COMMITTER_", "GIT_SSH", "GIT_ASKPASS", "GIT_TERMINAL_PROMPT",
             "GIT_HTTP_", "GIT_SSL_", "GIT_PROXY_", "GIT_CURL_", "GIT_TRACE",
             "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM")


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a git command: the caller's without the GIT_* variables that are
    not in _ENV_KEPT, no pager, plus `extra`."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("GIT_") or key.startswith(_ENV_KEPT)}
    env["GIT_PAGER"] = "cat"
    env.update(extra or {})
    return env


def command(args: list[str], *, own_config: bool = False) -> list[str]:
    """The argv of `git <args>`: literal pathspecs, and SAFE_CONFIG unless `own_config`
    (the operator's own clone, whose config and hooks the release commands honour)."""
    return ["git", *(() if own_config else SAFE_CONFIG), "--literal-pathspecs", *args]


@dataclass(frozen=True)
class Result:
    """A git command that may fail as part of normal operation (push rejected...)."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _install_hint(hint: str | None) -> str:
    return f"install git; {hint}" if hint else "install git"


def _exec(args: list[str], cwd: Path, *, input: bytes | str | None = None,
          hint: str | None = None, own_config: bool = False,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`git <args>` in `cwd`, never raising on its exit status (only when git cannot run)."""
    try:
        return subprocess.run(command(args, own_config=own_config), cwd=cwd, input=input,
                              capture_output=True, check=False, env=env or environment(),
                              text=not isinstance(input, bytes),
                              stdin=subprocess.DEVNULL if input is None else None)
    except OSError as exc:
        raise KustodianError(f"cannot run git: {exc.strerror}",
                             hint=_install_hint(hint)) from None



@dataclass(frozen=True)
class BaseRevision:
    ref: str
    commit: str           # the merge base actually compared against
    ref_commit: str       # what `ref` points at


class Git:
    """The git commands of PR mode and of the release commands, with clear errors (`hint`
    says what needs git, e.g. --base-ref or --commit). `own_config`: the clone is the
    operator's own, its config and hooks apply (release); else SAFE_CONFIG does (the gate)."""

    def __init__(self, repo_root: Path, *, hint: str | None = PR_HINT,
                 own_config: bool = False) -> None:
        self.root = repo_root
        self.hint = hint
        self.own_config = own_config
        self._config_env: dict[str, str] = {}
        self._resolved: dict[str, BaseRevision] = {}
        self._remotes: list[str] | None = None
        self._remote_urls: list[str] | None = None
        # the clone's config is read while git finds the work tree (both from repo_root)
        config = None if own_config else self._start(
            ["config", "-z", "--show-scope", "--get-regexp",
             r"^(filter\..*\.(clean|smudge|process)|remote\..*\.url)$"],
            cwd=repo_root, what="read the filter drivers")
        try:
            top = self._run(["rev-parse", "--show-toplevel"], cwd=repo_root,
                            what="find the git work tree").strip()
        except BaseException:
            if config is not None:
                config.kill()
                config.communicate()
            raise
        self.top = Path(top)
        if config is not None:
            self._config_env = self._clone_filters_off(
                self._finish(config, what="read the filter drivers", ok=(0, 1)))
        rel = os.path.relpath(os.path.realpath(repo_root), os.path.realpath(top))
        self.prefix = "" if rel == "." else Path(rel).as_posix() + "/"

    def _start(self, args: list[str], *, what: str, cwd: Path | None = None
               ) -> subprocess.Popen:
        try:
            return subprocess.Popen(self.command(args), cwd=cwd or self.top,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True, env=self.env())
        except OSError as exc:
            raise KustodianError(f"cannot run git to {what}: {exc.strerror}",
                                 hint=_install_hint(self.hint)) from None

    def command(self, args: list[str]) -> list[str]:
        """The argv of `git <args>` on this clone (see `command`)."""
        return command(args, own_config=self.own_config)

    def env(self) -> dict[str, str]:
        """The environment of git commands on this clone: `environment()`, and in the
        gate's commands the clone's own filter drivers turned off."""
        return environment(self._config_env)

    def _clone_filters_off(self, out: str) -> dict[str, str]:
        """GIT_CONFIG_* variables emptying the filter drivers (the programs git runs on
        files a .gitattributes names, e.g. when `git diff` rehashes a changed file) that the
        clone's own config defines; the operator's global and system ones (git-lfs) stay.
        Passed as variables, not `-c`, as a driver's name may hold a `=`. The same read
        keeps the remotes' URLs (`remote_urls`). `out`: `git config -z --show-scope
        --get-regexp` of the filter drivers' programs and the remotes' URLs."""
        fields = out.split("\0")                   # scope, "key\nvalue", scope, ...
        entries = [(scope, *entry.partition("\n")[::2])
                   for scope, entry in zip(fields[::2], fields[1::2], strict=False)]
        self._remote_urls = [value for _, key, value in entries
                             if key.startswith("remote.") and key.endswith(".url")]
        names = {key[len("filter."):].rpartition(".")[0] for scope, key, _ in entries
                 if key.startswith("filter.") and scope not in ("global", "system")}
        env: dict[str, str] = {}
        settings = [(f"filter.{name}.{key}", value) for name in sorted(names)
                    for key, value in (("clean", ""), ("smudge", ""), ("process", ""),
                                       ("required", "false"))]
        for i, (key, value) in enumerate(settings):
            env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
        if settings:
            env["GIT_CONFIG_COUNT"] = str(len(settings))
        return env

    def _finish(self, proc: subprocess.Popen, *, what: str, cwd: Path | None = None,
                ok: tuple[int, ...] = (0,)) -> str:
        out, err = proc.communicate()
        if proc.returncode not in ok:
            detail = err.strip() or f"exit status {proc.returncode}"
            raise KustodianError(f"git failed to {what}: {detail}", file=str(cwd or self.top),
                                 hint=self.hint)
        return out

    def _run(self, args: list[str], *, what: str, cwd: Path | None = None,
             ok: tuple[int, ...] = (0,)) -> str:
        return self._finish(self._start(args, what=what, cwd=cwd), what=what, cwd=cwd, ok=ok)

    def resolve(self, ref: str) -> BaseRevision:
        """`ref`'s commit and its merge base with HEAD (asked of git once per ref)."""
        if not ref or ref.startswith("-"):
            raise KustodianError(f"invalid --base-ref {ref!r}", hint="pass a branch, tag or commit")
        resolved = self._resolved.get(ref)
        if resolved is None:
            resolved = self._resolved[ref] = self._resolve_base(ref)
        return resolved

    def _resolve_base(self, ref: str) -> BaseRevision:
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

    def remote_urls(self) -> list[str]:
        """The URLs of the clone's remotes (see the module's `remote_urls`), read once."""
        if self._remote_urls is None:
            self._remote_urls = remote_urls(self.root)
        return self._remote_urls

    def remotes(self) -> list[str]:
        """The names of the clone's remotes (asked of git once)."""
        if self._remotes is None:
            self._remotes = self._run(["remote"], what="list the remotes", ok=(0, 1)).split()
        return self._remotes

    def commits(self, specs: list[str]) -> list[str]:
        """The commit each revision spec names ("" for none, e.g. `refs/heads/x^{commit}`
        of a missing branch), all through one `git cat-file --batch-check` (what
        `rev-parse --verify` answers spec by spec). Specs are read whole from stdin, never
        as options."""
        if not specs:
            return []
        asked = [spec for spec in specs if spec and "\n" not in spec and "\r" not in spec]
        out = ""
        if asked:
            proc = subprocess.run(self.command(["cat-file", "--batch-check"]), cwd=self.top,
                                  input="".join(f"{spec}\n" for spec in asked),
                                  capture_output=True, text=True, errors="surrogateescape",
                                  check=False, env=self.env())
            if proc.returncode != 0:
                raise KustodianError(f"git failed to resolve revisions: "
                                     f"{proc.stderr.strip() or proc.returncode}",
                                     hint=self.hint)
            out = proc.stdout
        found = iter(out.splitlines())
        commits: list[str] = []
        for spec in specs:
            if spec not in asked:
                commits.append("")
                continue
            fields = next(found, "").split()
            ok = len(fields) == 3 and fields[1] == "commit" and bool(_OID.match(fields[0]))
            commits.append(fields[0] if ok else "")
        return commits

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

    def chart_files(self) -> list[str]:
        """The `Chart.yaml` files of the work tree (tracked or untracked): Helm charts."""
        return sorted(path for path, _ in self._worktree_files()
                      if path == "Chart.yaml" or path.endswith("/Chart.yaml"))

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
            proc = subprocess.run(self.command(["cat-file", "--batch"]), cwd=self.top,
                                  input="".join(f"{oid}\n" for oid in wanted.values()).encode(),
                                  capture_output=True, check=False, env=self.env())
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

    def materialize(self, commit: str, paths: list[str], dest: Path, *,
                    what: str = "the base revision") -> None:
        """Write the files of `commit` under the repository-relative `paths` ("" for all)
        into the existing dir `dest`, exactly as the commit stores them: every blob's bytes
        (none of the tree's `.gitattributes` applied: `export-ignore` and `export-subst` are
        `git archive`'s alone, Argo CD's checkout has every file), symlinks as symlinks,
        submodules as empty dirs. A symlink leading out of the tree, a path git would not
        check out (`..`, `.git`), or a tree over MAX_TREE_BYTES / MAX_TREE_ENTRIES is a
        KustodianError (`dest` is then left for the caller to remove). `what` names the
        tree in errors."""
        entries: dict[str, tuple[str, str]] = {}        # path -> (mode, object id)
        total = 0
        short = commit[:12]
        for chunk in _chunks([self.prefix + p if p else (self.prefix or ".") for p in paths]):
            out = self._run(["ls-tree", "-r", "-l", "-z", "--full-tree", commit, "--",
                             *chunk], what=f"list {what}")
            for entry in out.split("\0"):
                meta, tab, path = entry.partition("\t")
                fields = meta.split()
                if not tab or len(fields) != 4 or not path.startswith(self.prefix):
                    continue
                rel = path[len(self.prefix):]
                if rel in entries:
                    continue
                parts = rel.split("/")
                if any(p in ("", ".", "..") or p.lower() == ".git" for p in parts):
                    raise KustodianError(f"{what} holds a path git would not check out: "
                                         f"{rel!r}", file=f"{rel}@{short}")
                entries[rel] = (fields[0], fields[2])
                total += int(fields[3]) if fields[3].isdigit() else 0
                if total > MAX_TREE_BYTES or len(entries) > MAX_TREE_ENTRIES:
                    raise KustodianError(
                        f"{what} ({short}) is larger than the gate reads (over "
                        f"{MAX_TREE_BYTES // 2**20} MiB or {MAX_TREE_ENTRIES} files)",
                        hint="keep large or generated files out of the repository Argo CD "
                             "deploys from")
        try:
            self._write(entries, dest, what, short)
        except OSError as exc:
            raise KustodianError(f"cannot write {what} ({short}): {exc}") from None

    def _write(self, entries: dict[str, tuple[str, str]], dest: Path, what: str,
               short: str) -> None:
        """`materialize`'s writes: files and submodule dirs, then the symlinks, checked."""
        blobs = [(rel, mode, oid) for rel, (mode, oid) in entries.items() if mode != "160000"]
        links: list[tuple[str, str]] = []
        for rel, (mode, _) in entries.items():
            if mode == "160000":                           # a submodule: an empty dir
                (dest / rel).mkdir(parents=True, exist_ok=True)
        reader = self._blobs([oid for _, _, oid in blobs], what)
        with contextlib.closing(reader):
            for (rel, mode, _), data in zip(blobs, reader, strict=True):
                if mode == "120000":
                    links.append((rel, data.decode("utf-8", "surrogateescape")))
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o755 if mode == "100755" else 0o644)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
        real_dest = os.path.realpath(dest)
        for rel, target in links:                          # last: no write goes through one
            link = dest / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, link)
        for rel, target in links:
            real = os.path.realpath(dest / rel)
            if target.startswith("/") or not (real + os.sep).startswith(real_dest + os.sep):
                raise KustodianError(
                    f"symlink leads outside the repository ({what})", file=f"{rel}@{short}",
                    hint="kustomize and Argo CD would read files the gate cannot see: copy "
                         "them into the repository or remove the link")

    def _blobs(self, oids: list[str], what: str) -> Iterator[bytes]:
        """The contents of `oids`, in order, through one `git cat-file --batch` (fed from a
        thread, so neither side of the pipe waits on the other)."""
        if not oids:
            return
        try:
            proc = subprocess.Popen(self.command(["cat-file", "--batch"]), cwd=self.top,
                                    env=self.env(), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError as exc:
            raise KustodianError(f"cannot run git to read {what}: {exc.strerror}",
                                 hint=_install_hint(self.hint)) from None

        def feed() -> None:
            try:
                for start in range(0, len(oids), 512):
                    proc.stdin.write("".join(f"{o}\n" for o in oids[start:start + 512])
                                     .encode())
                proc.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass

        feeder = threading.Thread(target=feed, name="git-cat-file-feed", daemon=True)
        feeder.start()
        try:
            for oid in oids:
                header = proc.stdout.readline().split()
                if len(header) != 3 or header[1] != b"blob" or not header[2].isdigit():
                    raise KustodianError(f"cannot read object {oid} of {what}",
                                         hint=self.hint)
                data = proc.stdout.read(int(header[2]))
                proc.stdout.read(1)
                yield data
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            feeder.join()

    def diff_text(self, commit: str, paths: list[str], *, timeout: float = 60) -> str:
        """`git diff` (the patch) of repository-relative paths between `commit` and the work
        tree; raises OSError when git cannot run, TimeoutExpired after `timeout` seconds."""
        proc = subprocess.run(self.command(["diff", "--no-color", "--no-ext-diff",
                                            "--no-textconv", commit, "--",
                                            *[self.prefix + p for p in paths]]),
                              cwd=self.top, capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False, env=self.env())
        return proc.stdout


    # --- the release commands: one branch, one commit of the planned files, push ---------
    def attempt(self, args: list[str], *, input: str | None = None) -> Result:
        """`git <args>` at the repository root; its outcome, whatever the exit status."""
        proc = _exec(args, self.root, input=input, hint=self.hint, own_config=self.own_config,
                     env=self.env())
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def run(self, args: list[str], *, what: str, input: str | None = None) -> str:
        """`git <args>` at the repository root; its output, or a KustodianError saying
        what failed (git's last line of error)."""
        result = self.attempt(args, input=input)
        if not result.ok:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise KustodianError(f"git failed to {what}: {detail[-1] if detail else ''}",
                                 hint=self.hint)
        return result.stdout

    def _top_path(self, path: str) -> str:
        """A work-tree-top path as a repository-relative one (outside the root: unchanged)."""
        return path[len(self.prefix):] if path.startswith(self.prefix) else path

    def dirty_paths(self) -> list[str]:
        """Tracked files with staged or unstaged changes (untracked files do not count)."""
        out = self.run(["status", "--porcelain", "-z", "--untracked-files=no"],
                       what="read the status")
        paths: list[str] = []
        entries = iter(out.split("\0"))
        for entry in entries:
            if len(entry) > 3:
                paths.append(self._top_path(entry[3:]))
                if entry[0] in "RC":               # a rename's source follows
                    paths.append(self._top_path(next(entries, "")))
        return paths

    def current_branch(self) -> str | None:
        """The checked-out branch (None on a detached HEAD)."""
        return self.attempt(["symbolic-ref", "--quiet", "--short", "HEAD"]).stdout.strip() \
            or None

    def object_id(self, spec: str) -> str | None:
        """`rev-parse --verify` of a revision or object spec, None when there is none."""
        result = self.attempt(["rev-parse", "--verify", "--quiet", "--end-of-options", spec])
        return result.stdout.strip() if result.ok and result.stdout.strip() else None

    def file_id(self, rel: str, revision: str = "HEAD") -> str | None:
        """The blob id of a repository-relative file in `revision` ("" for the index)."""
        return self.object_id(f"{revision}:{self.prefix}{rel}")

    def blob_id(self, rel: str, data: bytes) -> str:
        """The blob id git would store for `data` at `rel` (clean filters, eol rules)."""
        proc = _exec(["hash-object", f"--path={rel}", "--stdin"], self.root, input=data,
                     hint=self.hint, own_config=self.own_config, env=self.env())
        if proc.returncode != 0:
            raise KustodianError(f"git hash-object failed for {rel}: "
                                 f"{proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode().strip()

    def branch_exists(self, name: str) -> bool:
        return self.object_id(f"refs/heads/{name}") is not None

    def identity(self) -> list[str]:
        """`-c` options giving commits an author when the repository configures none."""
        if self.attempt(["config", "user.email"]).stdout.strip():
            return []
        return list(FALLBACK_IDENTITY)

    def commit_files(self, paths: list[str], message: str) -> str:
        """Commit exactly `paths` (staged already) with `message`; the new commit's sha."""
        result = self.attempt([*self.identity(), "commit", "-q", "-F", "-", "--", *paths],
                              input=message)
        if not result.ok:
            detail = result.stderr.strip() or result.stdout.strip()
            raise KustodianError(f"git commit failed: {detail}")
        return self.run(["rev-parse", "HEAD"], what="read the new commit").strip()

    def last_commit(self, path: str) -> tuple[str, int] | None:
        """(sha, commit time) of the last commit that changed a repository-relative path."""
        result = self.attempt(["log", "-1", "--format=%H %ct", "--", path])
        if not result.ok or len(result.stdout.split()) != 2:
            return None
        sha, stamp = result.stdout.split()
        return sha, int(stamp)


def common_dir(root: Path) -> Path | None:
    """The git dir shared by every worktree of the repository `root` is in, or None."""
    proc = _exec(["rev-parse", "--path-format=absolute", "--git-common-dir"], root)
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def lock_path(root: Path, name: str) -> Path:
    """Where commands on `root` take the lock `name`: in the repository's common git dir
    (shared by every worktree), else a temp file named after the directory."""
    shared = common_dir(root)
    if shared is not None:
        return shared / name
    digest = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"{name}.{digest}"


@contextlib.contextmanager
def repository_lock(root: Path, name: str, holder: str) -> Iterator[None]:
    """Hold the lock `name` of the repository, or fail at once when `holder` (e.g. "another
    release command") holds it. An flock: the kernel drops it when the holder exits, so a
    killed command never leaves a stale lock behind. The holder removes the lock file when
    it is done (nothing is left in the temp dir for a tree outside git); whoever locked a
    file that was removed meanwhile locks the new one instead."""
    path = lock_path(root, name)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise KustodianError(
                f"{holder} (pid {pid}) is running in this repository", file=str(path),
                hint="wait for it to finish and run this one again on the result") from None
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        locked = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (locked.st_dev,
                                                                        locked.st_ino):
            break
        os.close(fd)                # the previous holder removed it after we opened it
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)         # while still holding it: the next one makes a new file
        os.close(fd)                # closing releases the flock


# --- the git commands of other modules -------------------------------------------------------

def worktree_listing(root: Path) -> bytes | None:
    """`git ls-files -z -s -t --cached --others --exclude-standard` in `root`: tracked files
    with their mode and index blob, untracked non-ignored ones; None when git cannot run or
    `root` is not a git work tree."""
    try:
        proc = subprocess.run(command(["ls-files", "-z", "-s", "-t", "--cached", "--others",
                                       "--exclude-standard"]), cwd=root, capture_output=True,
                              stdin=subprocess.DEVNULL, check=False, env=environment())
    except OSError:
        return None
    return proc.stdout if proc.returncode == 0 else None


def grep_files(root: Path, patterns: list[str], *, timeout: float = 120) -> list[str]:
    """Tracked files of the work tree in `root` (their work-tree content) matching one of
    the extended regexes `patterns`: `git grep -l -E`. Binary files are searched too (no
    `-I`): a NUL byte, or a .gitattributes `binary` or `-diff` the tree sets, makes any file
    one to git, not to a YAML reader. Raises TimeoutExpired after `timeout` seconds."""
    args = ["grep", "-l", "-E"]
    for pattern in patterns:
        args += ["-e", pattern]
    proc = subprocess.run(command(args), cwd=root, capture_output=True, text=True,
                          timeout=timeout, check=False, env=environment())
    return proc.stdout.splitlines()


def remote_urls(root: Path) -> list[str]:
    """The URLs of the git remotes of the clone holding `root` ([] outside one, or when git
    cannot run)."""
    try:
        proc = subprocess.run(command(["-C", str(root), "config", "--get-regexp",
                                       r"^remote\..*\.url$"]), capture_output=True, text=True,
                              timeout=10, check=False, env=environment())
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.partition(" ")[2] for line in proc.stdout.splitlines()]


# the diff of two files outside any repository: no global or system config either
_NO_INDEX_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}


def diff_files(old: str, new: str, *, context: int, cwd: str, timeout: float
               ) -> subprocess.CompletedProcess:
    """`git diff --no-index` (unified, `context` lines) of two files: exit status 1 when they
    differ, the patch as bytes. Raises OSError when git cannot run, TimeoutExpired after
    `timeout` seconds."""
    return subprocess.run(
        command(["diff", "--no-index", "--no-color", "--no-ext-diff", "--no-textconv",
                 f"-U{context}", "--", old, new]), capture_output=True, timeout=timeout,
        env=environment(_NO_INDEX_ENV), check=False, cwd=cwd)


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
    exists / is_dir / kustomization, a blob to read a file; never lists the whole commit.
    Symlinks inside the repository are followed, as in a checkout (`resolve`)."""

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
            self._proc = subprocess.Popen(self.git.command(["cat-file", "--batch"]),
                                          cwd=self.git.top, env=self.git.env(),
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
        """name -> "tree" | "blob" | "commit" | "link" for a dir of the commit (its entries
        as stored: links not followed), None if it is none."""
        directory = "" if directory in ("", ".") else directory.strip("/")
        if directory not in self._trees:
            found = self._object(directory)
            self._trees[directory] = (_parse_tree(found[1], self._hash_bytes)
                                      if found and found[0] == "tree" else None)
        return self._trees[directory]

    def resolve(self, path: str) -> tuple[str | None, list[str]]:
        """(real path, symlinks crossed) of a path of the commit, as a checkout resolves it:
        every symlink on it replaced by its target, so `link/x` of `link -> ../real` is
        `real/x`. The real path is None when a link leads outside the repository (or is
        absolute, or loops); the links crossed are the link entries themselves."""
        pending = [p for p in posixpath.normpath(path).split("/") if p not in ("", ".")]
        done: list[str] = []
        crossed: list[str] = []
        while pending:
            name = pending.pop(0)
            if name == "..":
                if not done:
                    return None, crossed
                done.pop()
                continue
            here = "/".join(done)
            if (self._entries(here) or {}).get(name) != "link":
                done.append(name)
                continue
            link = posixpath.join(here, name)
            found = self._object(link)
            target = found[1].decode("utf-8", "surrogateescape") if found else "/"
            if len(crossed) >= 16 or target.startswith("/"):
                return None, crossed
            crossed.append(link)
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
        return "/".join(done), crossed

    def real(self, path: str) -> str:
        """`path` with its symlinks resolved (itself when one leads out of the repository)."""
        real, _ = self.resolve(path)
        return path if real is None else (real or ".")

    def _type(self, path: str) -> str | None:
        real, _ = self.resolve(path)
        if real is None:                 # a link out of the repository: there, unreadable
            parent, name = posixpath.split(posixpath.normpath(path))
            kind = (self._entries(parent) or {}).get(name) if parent != ".." else None
            return "link" if kind == "link" else None
        if real == "":
            return "tree"
        parent, name = posixpath.split(real)
        return (self._entries(parent) or {}).get(name)

    def is_dir(self, path: str) -> bool:
        return self._type(path) == "tree"

    def exists(self, path: str) -> bool:
        return self._type(path) is not None

    def is_file(self, path: str) -> bool:
        return self._type(path) == "blob"

    def kustomization(self, directory: str) -> str | None:
        for name in NAMES:
            if self._type(posixpath.join(directory, name)) == "blob":
                return posixpath.join(directory, name)
        return None

    def read(self, path: str) -> bytes | None:
        real, _ = self.resolve(path)
        if real is None or self._type(real) != "blob":
            return None
        found = self._object(real)
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
        entries[name] = {b"40000": "tree", b"160000": "commit", b"120000": "link"}.get(
            mode, "blob")
        i = nul + 1 + hash_bytes
    return entries


# --- revisions named in the repository ------------------------------------------------------

_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_OID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_REF_CHARS = re.compile(r"^[A-Za-z0-9._/+-]+$")


@dataclass(frozen=True)
class Revision:
    """What a revision named in the repository stands for.

    `kind`: "checked" (the revision under check: read the tree being checked), "commit" (a
    commit sha of this clone), "branch" / "tag" (a movable ref of this clone, at `commit`),
    "default" (`HEAD` while the revision under check is another branch than the remote's
    default branch `branch`, at `commit`), "after" (on the base side of pull-request mode,
    a commit holding the pull request's own commits: not rendered there, see
    BaseRevisions), or "unresolved" (not readable offline; `reason` says why)."""

    name: str
    kind: str
    commit: str = ""
    reason: str = ""
    branch: str = ""

    @property
    def movable(self) -> bool:
        return self.kind in ("branch", "tag")

    @property
    def label(self) -> str:
        """How a report names it: `v1 (3f2a1c9d0a1b)`, `HEAD = main (...)`, a short sha."""
        short = self.commit[:12]
        if self.kind == "commit":
            return short
        if self.kind == "default":
            return f"{self.name or 'HEAD'} = {self.branch} ({short})"
        return f"{self.name} ({short})" if short else self.name


class Revisions:
    """Which revisions mean "the tree under check", and the trees of the others.

    `checked`: the names that stand for the checked revision: the checked commit's sha, and
    the branches that hold it after the change lands (the current branch in a full check; in
    pull-request mode the branch the PR merges into, never the PR's own branch, which its
    author can still push to). `HEAD` (and an empty revision, which Argo CD reads as HEAD)
    is the remote's default branch (`refs/remotes/<remote>/HEAD`, origin first): the tree
    under check when that branch is among the checked ones, or when the clone does not
    know the default branch or which branch is checked; else the default branch's commit.
    Other names are resolved in this clone only (local branches, tags, remote-tracking
    branches, commit shas): nothing is fetched. `tree(commit)` writes a commit's tree out
    once per run; `close()` removes them all."""

    def __init__(self, root: Path, checked: Iterable[str] = (), *, git: Git | None = None,
                 current_branch: bool = True) -> None:
        self.root = root
        self._git = git
        self._checked = {*checked} - {"", "HEAD"}
        self._current_branch = current_branch
        self._ready = False
        self._head = ""
        self._resolved: dict[str, Revision] = {}
        self._listings: dict[str, tuple[list[str], list[str]]] = {}
        self._trees: dict[str, Path | KustodianError] = {}
        self._readers: dict[str, GitReader] = {}

    @classmethod
    def for_pull_request(cls, git: Git, base_ref: str) -> Revisions:
        """The revisions under check in pull-request mode: HEAD (the PR head) and the branch
        `base_ref` names (after the merge it holds the PR's tree)."""
        names = set()
        full = git._run(["rev-parse", "--symbolic-full-name", "--verify", "--quiet",
                         "--end-of-options", base_ref],
                        what=f"name {base_ref}", ok=(0, 1, 128)).strip()
        for prefix in ("refs/heads/", "refs/remotes/"):
            if full.startswith(prefix):
                rest = full[len(prefix):]
                branch = rest.split("/", 1)[1] if prefix == "refs/remotes/" and "/" in rest \
                    else rest
                names |= {branch, f"refs/heads/{branch}"}
        return cls(git.root, names, git=git, current_branch=False)

    def _start(self) -> Git | None:
        """The clone's git (None outside one) and the checked names completed once."""
        if not self._ready:
            self._ready = True
            if self._git is None:
                try:
                    self._git = Git(self.root)
                except KustodianError:
                    return None
            self._head = self._git._run(["rev-parse", "--verify", "--quiet", "HEAD"],
                                        what="resolve HEAD", ok=(0, 1)).strip()
            if self._current_branch:
                branch = self._git._run(["symbolic-ref", "--quiet", "--short", "HEAD"],
                                        what="name the current branch", ok=(0, 1)).strip()
                if branch:
                    self._checked |= {branch, f"refs/heads/{branch}"}
        return self._git

    def resolve(self, name: str) -> Revision:
        """What `name` stands for (see Revision)."""
        name = name.strip()
        if name not in self._resolved:
            self._resolved[name] = self._resolve(name)
        return self._resolved[name]

    def _resolve(self, name: str) -> Revision:
        if name in self._checked:
            return Revision(name, "checked")
        git = self._start()
        if name in self._checked:                      # the current branch
            return Revision(name, "checked")
        if name in ("", "HEAD"):
            return self._default(name) if git is not None else Revision(name, "checked")
        if git is None:
            return Revision(name, "unresolved", reason="the repository is not a git clone, so "
                                                       "no revision but HEAD can be read")
        if _SHA.match(name) and self._head.startswith(name):
            return Revision(name, "checked", self._head)
        if not _REF_CHARS.match(name) or name.startswith(("-", "/")) or ".." in name \
                or name.endswith((".lock", "/", ".")):
            return Revision(name, "unresolved", reason="it is not a branch, tag or commit "
                                                       "name")
        if name.startswith("refs/"):
            candidates = [name]
        else:
            candidates = [f"refs/heads/{name}", f"refs/tags/{name}",
                          *(f"refs/remotes/{r}/{name}" for r in git.remotes())]
        # the sha first, then the refs in that order: the first one found, asked all at once
        sha = bool(_SHA.match(name))
        specs = [name] * sha + candidates
        for i, commit in enumerate(git.commits([f"{s}^{{commit}}" for s in specs])):
            if not commit:
                continue
            if sha and i == 0:
                return Revision(name, "commit", commit)
            kind = "tag" if specs[i].startswith("refs/tags/") else "branch"
            return Revision(name, kind, commit)
        return Revision(name, "unresolved",
                        reason="no branch, tag or commit of that name is in this clone")

    def _default(self, name: str) -> Revision:
        """`HEAD`: the remote's default branch, when the clone knows it and the branches
        under check are known and do not include it; else the revision under check."""
        assert self._git is not None
        if not self._checked:
            return Revision(name, "checked")
        for remote in sorted(self._git.remotes(), key=lambda r: r != "origin"):
            ref = self._git._run(["symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD"],
                                 what=f"read {remote}'s default branch",
                                 ok=(0, 1, 128)).strip()
            prefix = f"refs/remotes/{remote}/"
            if not ref.startswith(prefix):
                continue
            branch = ref[len(prefix):]
            if branch in self._checked or f"refs/heads/{branch}" in self._checked:
                return Revision(name, "checked")
            commit = self._verify(f"{ref}^{{commit}}")
            if commit:
                return Revision(name, "default", commit, branch=branch)
        return Revision(name, "checked")

    def tree(self, commit: str) -> Path:
        """The tree of `commit` written out (Git.materialize) into a temp dir, once per run;
        `close()` removes it. A KustodianError when it cannot be (raised again each time)."""
        found = self._trees.get(commit)
        if found is None and len(self._trees) >= MAX_TREES:
            raise KustodianError(
                f"Applications deploy more than {MAX_TREES} other commits of this repository: "
                f"the gate writes each one's tree out and stops here ({commit[:12]})",
                hint="point targetRevision at HEAD or the branch this repository deploys "
                     "from; pin fewer distinct commits")
        if found is None:
            git = self._start()
            assert git is not None
            dest = Path(tempfile.mkdtemp(prefix="kustodian-rev-"))
            try:
                git.materialize(commit, [""], dest, what=f"commit {commit[:12]}")
                found = dest
            except KustodianError as exc:
                found = exc
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)
                raise
            if isinstance(found, KustodianError):
                shutil.rmtree(dest, ignore_errors=True)
            self._trees[commit] = found
        if isinstance(found, KustodianError):
            raise found
        return found

    def trees(self) -> dict[str, str]:
        """Each tree written out so far: its dir -> its commit."""
        return {str(p): c for c, p in self._trees.items() if isinstance(p, Path)}

    def close(self) -> None:
        """Remove every tree written out; stop the commits' readers."""
        for reader in self._readers.values():
            reader.__exit__()
        self._readers.clear()
        for found in self._trees.values():
            if isinstance(found, Path):
                shutil.rmtree(found, ignore_errors=True)
        self._trees.clear()

    def before(self, base: str) -> BaseRevisions:
        """These revisions as the base side of pull-request mode sees them (`base`: the
        merge base)."""
        return BaseRevisions(self, base)


    def _verify(self, spec: str) -> str:
        assert self._git is not None
        return self._git._run(["rev-parse", "--verify", "--quiet", "--end-of-options", spec],
                              what=f"resolve {spec}", ok=(0, 1, 128)).strip()

    def listing(self, commit: str) -> tuple[list[str], list[str]]:
        """(dirs, files) of a commit, repository-relative, as a checkout would hold them
        (submodules left out)."""
        if commit not in self._listings:
            git = self._start()
            assert git is not None
            out = git._run(["ls-tree", "-r", "-t", "-z", "--full-tree", commit, "--",
                            git.prefix or "."], what=f"list {commit[:12]}")
            dirs: list[str] = []
            files: list[str] = []
            for entry in out.split("\0"):
                meta, tab, path = entry.partition("\t")
                if not tab or not path.startswith(git.prefix):
                    continue
                path = path[len(git.prefix):]
                kind = meta.split(" ")[1] if meta.count(" ") >= 2 else ""
                if kind == "tree":
                    dirs.append(path)
                elif kind == "blob":
                    files.append(path)
            self._listings[commit] = (sorted(dirs), sorted(files))
        return self._listings[commit]

    def read(self, commit: str, path: str) -> bytes | None:
        """A file of a commit (None when it has none)."""
        git = self._start()
        assert git is not None
        # A reader per commit is kept for the next file, the most recent few only: the
        # generators of an ApplicationSet may name any number of commits.
        reader = self._readers.pop(commit, None)
        if reader is None:
            if len(self._readers) >= MAX_OPEN_READERS:
                self._readers.pop(next(iter(self._readers))).__exit__()
            reader = GitReader(git, commit)
        self._readers[commit] = reader
        return reader.read(path)


class BaseRevisions:
    """The revisions of a Revisions, on the base side of pull-request mode: a commit that
    holds some of the pull request's own commits (the PR's branch, a branch or sha its
    author pushed them to) did not exist before the change, so the base side does not
    render it ("after"): the head side's findings in it are then new, never unchanged.
    Anything else (trees, listings, reads) is the shared Revisions'."""

    def __init__(self, revisions: Revisions, base: str) -> None:
        self.revisions = revisions
        self.base = base
        self._pr_commits: int | None = None
        self._holds: dict[str, bool] = {}

    def __getattr__(self, name: str) -> object:
        return getattr(self.revisions, name)

    def resolve(self, name: str) -> Revision:
        revision = self.revisions.resolve(name)
        if revision.commit and revision.kind in ("commit", "branch", "tag", "default") \
                and self._holds_pr_commits(revision.commit):
            return Revision(revision.name, "after", revision.commit,
                            reason="it holds commits of the pull request")
        return revision

    def _holds_pr_commits(self, commit: str) -> bool:
        git = self.revisions._start()
        if git is None:
            return False
        if self._pr_commits is None:
            self._pr_commits = int(git._run(
                ["rev-list", "--count", "HEAD", f"^{self.base}"],
                what="count the pull request's commits").strip() or 0)
        if commit not in self._holds:
            outside = int(git._run(["rev-list", "--count", "HEAD", f"^{self.base}",
                                    f"^{commit}"], what="compare a revision with the pull "
                                   "request").strip() or 0)
            self._holds[commit] = outside < self._pr_commits
        return self._holds[commit]
