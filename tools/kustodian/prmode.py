"""Pull-request mode of `kustodian check`: new / fixed / unchanged findings against a base ref.

Interface (called by `kustodian check --base-ref REF`):

    PrResult(report, fixed, affected, markdown)
    run_pr_check(repo_root, base_ref, overlays, run_check) -> PrResult

`overlays` are the repository-relative kustomization dirs the check would cover at HEAD;
`run_check(tree, overlays) -> Report` runs the ordinary check of those overlays in `tree`.

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
   every overlay. New overlays (kustomization added) and deleted ones (kustomization removed;
   found next to the given overlays) are affected too. A changed file nobody reads affects
   nothing, and then no check runs at all.
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

import yaml

from kustodian.errors import KustodianError
from kustodian.model import Finding, Report

GLOBAL_INPUTS = (".kustodian.yaml", "policies", "Dockerfile")
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_TABLE_ROWS = 100
MAX_DIFF_LINES = 400
MAX_MARKDOWN_CHARS = 60_000
_MAX_KUSTOMIZATION_BYTES = 1_000_000
_MAX_ARGS_CHARS = 100_000


@dataclass
class PrResult:
    """The HEAD report with statuses, the fixed findings, the affected overlays, the summary."""

    report: Report
    fixed: list[Finding]
    affected: list[str]
    markdown: str


def run_pr_check(repo_root: Path, base_ref: str, overlays: list[str],
                 run_check: Callable[[Path, list[str]], Report]) -> PrResult:
    """Check only what the change can affect, at the base and at HEAD, and compare."""
    started = time.perf_counter()
    git = Git(Path(repo_root))
    base = git.resolve(base_ref)
    changed = git.changed_paths(base.commit)
    with GitReader(git, base.commit) as base_reader:
        head_reader = FsReader(Path(repo_root))
        candidates = _candidates(overlays, changed, head_reader, base_reader)
        affected = affected_overlays(candidates, changed, head_reader,
                                     git.kustomization_dirs() if changed else [])
        timings = {"pr_affected_s": time.perf_counter() - started}
        in_base = [o for o in affected if base_reader.kustomization(o)]
        in_head = [o for o in affected if head_reader.kustomization(o)]
        base_report, base_problem = Report(), None
        if in_base:
            tree = Path(tempfile.mkdtemp(prefix="kustodian-base-"))
            try:
                t0 = time.perf_counter()
                git.extract(base.commit, _base_paths(in_base, base_reader), tree)
                timings["pr_materialize_s"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                try:
                    base_report = run_check(tree, in_base)
                except KustodianError as exc:
                    base_problem = str(exc)
                timings["pr_base_check_s"] = time.perf_counter() - t0
            finally:
                shutil.rmtree(tree, ignore_errors=True)
    head_report = run_check(Path(repo_root), in_head) if in_head else Report()
    report, fixed = classify(head_report, base_report)
    report.timings.update(timings)
    envs = _env_labels(Path(repo_root), affected)
    markdown = render_markdown(base, changed, affected, report, fixed, base_report, envs,
                               base_problem)
    return PrResult(report=report, fixed=fixed, affected=affected, markdown=markdown)


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

    def _run(self, args: list[str], *, what: str, cwd: Path | None = None,
             ok: tuple[int, ...] = (0,)) -> str:
        try:
            proc = subprocess.run(["git", "--literal-pathspecs", *args], cwd=cwd or self.top,
                                  capture_output=True, text=True, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise KustodianError(f"cannot run git to {what}: {exc.strerror}",
                                 hint="install git; --base-ref needs a git checkout") from None
        if proc.returncode not in ok:
            detail = proc.stderr.strip() or f"exit status {proc.returncode}"
            raise KustodianError(f"git failed to {what}: {detail}", file=str(cwd or self.top),
                                 hint="--base-ref needs a git checkout with the base history")
        return proc.stdout

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

    def changed_paths(self, commit: str) -> set[str]:
        diff = self._run(["diff", "--name-only", "--no-renames", "-z", commit, "--"],
                         what="list changed files")
        paths = {p[len(self.prefix):] for p in diff.split("\0")
                 if p and p.startswith(self.prefix)}
        return paths | {path for path, tracked in self._worktree_files() if not tracked}

    def _worktree_files(self) -> list[tuple[str, bool]]:
        """(path relative to the repository root, tracked?) for the work tree, listed once."""
        if not hasattr(self, "_listing"):
            out = self._run(["ls-files", "-z", "-t", "--cached", "--others",
                             "--exclude-standard"], cwd=self.root, what="list the work tree")
            self._listing = [(entry[2:], not entry.startswith("? "))
                             for entry in out.split("\0") if len(entry) > 2]
        return self._listing

    def kustomization_dirs(self) -> list[str]:
        """Dirs holding a kustomization file in the work tree (tracked or untracked)."""
        return sorted({posixpath.dirname(path) for path, _ in self._worktree_files()
                       if posixpath.basename(path) in KUSTOMIZATION_NAMES})

    def list_files(self, commit: str) -> list[str]:
        out = self._run(["ls-tree", "-r", "--name-only", "-z", commit, "--",
                         self.prefix or "."], what="list the base files")
        return [p[len(self.prefix):] for p in out.split("\0") if p.startswith(self.prefix) and p]

    def extract(self, commit: str, paths: list[str], dest: Path) -> None:
        """`git archive <commit> <paths> | tar -x` into dest (in chunks for long lists)."""
        for chunk in _chunks([self.prefix + p for p in paths]):
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
        try:
            return (self.root / path).read_bytes()
        except OSError:
            return None

    def is_dir(self, path: str) -> bool:
        return (self.root / path).is_dir()

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()

    def kustomization(self, directory: str) -> str | None:
        for name in KUSTOMIZATION_NAMES:
            candidate = posixpath.join(directory, name)
            if (self.root / candidate).is_file():
                return candidate
        return None


class GitReader:
    """Files of one commit, through a single `git cat-file --batch` process."""

    def __init__(self, git: Git, commit: str) -> None:
        self.git = git
        self.commit = commit
        self._files: set[str] | None = None
        self._dirs: set[str] = set()
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> GitReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.stdout.close()
            self._proc.wait()

    @property
    def files(self) -> set[str]:
        if self._files is None:
            self._files = set(self.git.list_files(self.commit))
            for path in self._files:
                parent = posixpath.dirname(path)
                while parent and parent not in self._dirs:
                    self._dirs.add(parent)
                    parent = posixpath.dirname(parent)
        return self._files

    def is_dir(self, path: str) -> bool:
        return path in ("", ".") or (bool(self.files) and path in self._dirs)

    def exists(self, path: str) -> bool:
        return path in self.files or self.is_dir(path)

    def kustomization(self, directory: str) -> str | None:
        for name in KUSTOMIZATION_NAMES:
            candidate = posixpath.join(directory, name)
            if candidate in self.files:
                return candidate
        return None

    def read(self, path: str) -> bytes | None:
        if path not in self.files or "\n" in path:
            return None
        if self._proc is None:
            self._proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.git.top,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._proc.stdin.write(f"{self.commit}:{self.git.prefix}{path}\n".encode())
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().decode().split()
        if len(header) != 3 or header[1] != "blob":
            return None
        data = self._proc.stdout.read(int(header[2]))
        self._proc.stdout.read(1)
        return data


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
        files = {posixpath.join(directory, n) for n in KUSTOMIZATION_NAMES}
        dirs: set[str] = set()
        kustomizations: set[str] = set()
        kfile = self.reader.kustomization(directory)
        data = _load_mapping(self.reader.read(kfile)) if kfile else None
        for ref in _references(data or {}):
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


@dataclass(frozen=True)
class _Ref:
    path: str
    kind: str = "file"       # "file", "dir" (read whole) or "any" (file or kustomization dir)


def _load_mapping(raw: bytes | None) -> dict | None:
    if not raw or len(raw) > _MAX_KUSTOMIZATION_BYTES:
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(raw, Loader=loader)                      # a safe loader
    except yaml.YAMLError:
        return None                          # the check itself reports broken kustomizations
    return data if isinstance(data, dict) else None


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _dicts(value: object) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _is_inline(text: str) -> bool:
    return "\n" in text or text.lstrip().startswith(("{", "["))


def _references(data: dict) -> Iterable[_Ref]:
    """Every local path a kustomization file names, by the field that names it."""
    for key in ("resources", "bases", "components", "generators", "transformers", "validators"):
        for ref in _strings(data.get(key)):
            if not _is_inline(ref):
                yield _Ref(ref, "any")
    for key in ("patches", "patchesJson6902", "replacements"):
        for entry in data.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                yield _Ref(entry["path"])
            elif isinstance(entry, str) and not _is_inline(entry):
                yield _Ref(entry)
    for ref in _strings(data.get("patchesStrategicMerge")):
        if not _is_inline(ref):
            yield _Ref(ref)
    for key in ("configurations", "crds"):
        for ref in _strings(data.get(key)):
            yield _Ref(ref)
    openapi = data.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield _Ref(openapi["path"])
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in _dicts(data.get(key)):
            for spec in _strings(gen.get("files")):
                yield _Ref(spec.split("=", 1)[1] if "=" in spec else spec)
            for env in (*_strings(gen.get("envs")), *_strings(gen.get("env"))):
                yield _Ref(env)
    helm = data.get("helmCharts")
    if helm:
        globals_ = data.get("helmGlobals") if isinstance(data.get("helmGlobals"), dict) else {}
        yield _Ref(str(globals_.get("chartHome") or "charts"), "dir")
        for chart in _dicts(helm):
            for ref in (*_strings(chart.get("valuesFile")),
                        *_strings(chart.get("additionalValuesFiles"))):
                yield _Ref(ref)


def _resolve(directory: str, ref: str) -> str | None:
    """A repository-relative path for `ref`, or None for remote or out-of-repo references."""
    ref = ref.strip()
    if not ref or "://" in ref or ref.startswith(("git@", "github.com/", "gitlab.com/")):
        return None
    if "?" in ref and ("ref=" in ref or "version=" in ref):
        return None
    path = posixpath.normpath(posixpath.join(directory, ref))
    if path == ".." or path.startswith("../") or posixpath.isabs(path):
        return None
    return path


# --- which overlays a change affects ------------------------------------------------------


def _is_global(path: str) -> bool:
    return any(path == g or path.startswith(g + "/") for g in GLOBAL_INPUTS)


def _candidates(overlays: list[str], changed: set[str], head: FsReader,
                base: GitReader) -> list[str]:
    """The given overlays plus the overlays the change deleted: a kustomization (not a
    Component) removed under the same top-level dir as a given overlay (e.g. overlays/), or
    an overlay the base revision's .kustodian.yaml lists that is gone at HEAD."""
    result = [_relative(head.root, o) for o in overlays]
    tops = {o.split("/", 1)[0] for o in result}
    deleted = []
    for path in sorted(changed):
        directory, name = posixpath.split(path)
        if name in KUSTOMIZATION_NAMES and directory.split("/", 1)[0] in tops:
            deleted.append(directory)
    configured = (_load_mapping(base.read(".kustodian.yaml")) or {}).get("overlays")
    if isinstance(configured, dict):
        deleted += [posixpath.normpath(str(o).rstrip("/")) for o in configured]
    for directory in deleted:
        kfile = base.kustomization(directory)
        if directory in result or not kfile or head.kustomization(directory):
            continue
        if (_load_mapping(base.read(kfile)) or {}).get("kind") != "Component":
            result.append(directory)
    return list(dict.fromkeys(result))


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
    """The overlays whose inputs (at HEAD, see the module docstring) include a changed path.

    Searched backwards, so a one-file change in a monorepo reads every kustomization file
    once but parses only the few that can name a changed path: start from the kustomizations
    naming a changed file (or whose own kustomization file changed), then climb to the
    kustomizations naming those, and so on. A kustomization can only name a path through a
    string ending in that path's last component (or in `..`), which a text scan finds."""
    if not changed:
        return []
    if any(_is_global(path) for path in changed):
        return list(overlays)
    if kustomization_dirs is None:
        return affected_overlays_forward(overlays, changed, head)
    collector = InputCollector(head)
    texts = {}
    for directory in kustomization_dirs:
        text = _kustomization_text(head, directory)
        if text is not None:
            texts[directory] = text
    reached = {posixpath.dirname(p) for p in changed if posixpath.basename(p) in
               KUSTOMIZATION_NAMES}
    hit = with_parents(changed)
    seeds = _naming(texts, hit, hit)
    for directory in seeds:
        files, dirs, _ = collector.direct(directory)
        if (files | dirs) & hit:
            reached.add(directory)
    frontier = set(reached)
    while frontier:
        nxt = set()
        for directory in _naming(texts, frontier, frontier) - reached:
            if collector.direct(directory)[2] & frontier:
                nxt.add(directory)
        reached |= nxt
        frontier = nxt
    return [o for o in overlays if posixpath.normpath(o) in reached]


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


def _kustomization_text(reader: FsReader, directory: str) -> str | None:
    for name in KUSTOMIZATION_NAMES:
        try:
            with open(os.path.join(reader.root, directory, name), "rb") as handle:
                return handle.read(_MAX_KUSTOMIZATION_BYTES).decode("utf-8", errors="replace")
        except OSError:
            continue
    return None


_DOTS = re.compile(r"\.\.?/?(?=[\s\"'\],#]|$)", re.MULTILINE)
_TOKEN = re.compile(r"[^\s\"'\[\],#=]+")
_DELIMITERS = " \t\r\n\"'[],#="             # what ends a path-like token in YAML text
_TOKEN_START = _DELIMITERS + "/"


def _has_dots_ref(text: str) -> bool:
    """Whether the text may hold a reference ending in `.` or `..` (e.g. `resources: [..]`)."""
    return any(m.start() == 0 or text[m.start() - 1] in _TOKEN_START
               for m in _DOTS.finditer(text))


def _token_ending_at(text: str, start: int, end: int) -> str:
    """The whole token (path-like word) that ends with text[start:end]."""
    while start > 0 and text[start - 1] not in _DELIMITERS:
        start -= 1
    return text[start:end]


def _naming(texts: dict[str, str], paths: Iterable[str], targets: set[str]) -> set[str]:
    """Kustomization dirs whose text holds a token that resolves, relative to the dir, to
    one of `targets`: a superset of the dirs naming them (the caller parses these few).
    A reference to a path ends with the path's last component, or with `.`/`..`."""
    names = {posixpath.basename(p.rstrip("/")) for p in paths} - {"", ".", ".."}
    alternatives = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
    endings = re.compile(r"(?:" + alternatives + r")/?(?=[\s\"'\],#]|$)",
                         re.MULTILINE) if names else None
    found = set()
    for directory, text in texts.items():
        candidates = [_token_ending_at(text, m.start(), m.end())
                      for m in endings.finditer(text)] if endings else []
        if _has_dots_ref(text):
            candidates += _TOKEN.findall(text)
        for token in candidates:
            if _resolve(directory, token.rstrip("/") or token) in targets:
                found.add(directory)
                break
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


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _resource(f: Finding) -> str:
    if not f.kind:
        return ""
    ident = f"{f.kind}/{f.namespace + '/' if f.namespace else ''}{f.name or ''}"
    return f"{ident} [{f.container}]" if f.container else ident


def _location(f: Finding) -> str:
    if f.file:
        return f"`{f.file}:{f.line}`" if f.line else f"`{f.file}`"
    return f"`{f.overlay}`" if f.overlay else ""


def _table(findings: list[Finding]) -> list[str]:
    rows = ["| severity | rule | env | resource | location | message |",
            "|---|---|---|---|---|---|"]
    ordered = sorted(findings, key=lambda f: (-int(f.severity), f.rule, f.file or "", f.line or 0))
    for f in ordered[:MAX_TABLE_ROWS]:
        rows.append(f"| {_cell(f.severity)} | `{_cell(f.rule)}` | {_cell(f.env)} | "
                    f"{_cell(_resource(f))} | {_location(f)} | {_cell(f.message)} |")
    if len(ordered) > MAX_TABLE_ROWS:
        rows.append(f"\n_... and {len(ordered) - MAX_TABLE_ROWS} more (see the SARIF/JSON "
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
           f"Compared with `{_cell(base.ref)}` (merge base `{base.commit[:12]}`): "
           f"{len(changed)} changed file(s), {len(affected)} affected overlay(s)"
           + (": " + ", ".join(f"`{o}`" for o in affected) if affected else "."), ""]
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
        out += [f"#### {env}", ""]
        for overlay in sorted(by_env[env]):
            before = base_report.rendered.get(overlay, "")
            after = report.rendered.get(overlay, "")
            lines, added, removed = rendered_diff(overlay, before, after)
            if not lines:
                out += [f"- `{overlay}`: no change in the rendered manifests", ""]
                continue
            note = ""
            if len(lines) > MAX_DIFF_LINES:
                note = (f"\n_Diff truncated: {len(lines) - MAX_DIFF_LINES} more lines; run "
                        f"`kustodian check --base-ref <ref>` locally to see all._\n")
                lines = lines[:MAX_DIFF_LINES]
            fence = "````" if any("```" in line for line in lines) else "```"
            block = "\n".join([f"<details><summary><code>{overlay}</code>: +{added} "
                               f"&minus;{removed} lines</summary>", "", f"{fence}diff",
                               *lines, fence, note, "</details>", ""])
            if len(block) > budget:
                block = (f"- `{overlay}`: +{added} &minus;{removed} lines (diff left out: the "
                         f"comment would exceed GitHub's size limit)\n")
            budget -= len(block)
            out.append(block)
    return out
