"""Turn the command line's PATHs into targets: kustomization roots to render and plain
manifest files.

Without PATH the whole repository is walked ("nothing skipped silently"): every
kustomization dir that kustomize can build (Components included, hidden and symlinked dirs
included) is a target unless another kustomization of the repository includes it (then it
is checked through that one) - a dir `.kustodian.yaml` maps under `overlays:` is a target
either way - and every plain Kubernetes manifest file outside a kustomization tree is
checked. Only `.git` and git-ignored files (they never reach Argo CD) are left out without a
rule; anything else is left out only by an `ignore:` rule of the repository config, and the
report lists those rules. A symlink leading outside the repository is an error; one inside
is followed (its files are seen under the link's path too), as kustomize and Argo CD do.

Seam for other target sources (e.g. Argo CD Applications): `discover` gathers targets from
the `TargetSource`s in `target_sources()`; a new source is a function
`(Discovery) -> list[Target]` appended there, which sees the same repository listing
(`Discovery.listing`), kustomization graph (`Discovery.graph`) and config.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kustodian.config import RepoConfig
from kustodian.errors import KustodianError
from kustodian.kustomize import model
from kustodian.kustomize.files import NAMES, kustomization_file, real_path
from kustodian.yamlio import read_bytes

if TYPE_CHECKING:
    from kustodian.model import Report

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
INCLUDE_FIELDS = ("resources", "bases", "components", "generators", "transformers",
                  "validators")
_MAX_SNIFF_BYTES = 16 * 1024 * 1024
# A YAML document that starts a line with `apiVersion:` and one with `kind:` at column 0 is a
# mapping holding both keys (block scalars are indented), so it needs no parse to be sniffed.
_DOCUMENT_BREAK = re.compile(rb"^---(?=[ \t\r\n]|$)", re.M)
_TOP_API_VERSION = re.compile(rb"^apiVersion[ \t]*:", re.M)
_TOP_KIND = re.compile(rb"^kind[ \t]*:", re.M)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Target:
    """A kustomization root (rendered by kustomize) or a group of plain manifest files."""

    kind: str                         # "overlay" | "files" | "dockerfile" (conftest only)
    path: Path                        # kustomization dir (or the first path given)
    display: str                      # repository-relative (or as given) path
    env: str | None = None
    files: list[Path] = field(default_factory=list)
    explicit: bool = False            # named on the command line (its env may stay unknown)
    application: str | None = None    # the Argo CD Application this target renders for
    recipe: Any = None                # its source's render recipe (kustodian.argocd.sources)


def is_dockerfile(path: Path) -> bool:
    """`Dockerfile`, `Dockerfile.<x>` or `<x>.Dockerfile` (checked by the Rego, not parsed)."""
    name = path.name
    return name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(
        ".Dockerfile")


@lru_cache(maxsize=64)
def _real_dir(path: str) -> Path:
    """realpath of the root / cwd, resolved once per run (not once per overlay)."""
    return Path(os.path.realpath(path))


def display_path(path: Path, root: Path) -> str:
    """Repository-relative when inside the root, else relative to cwd, else absolute."""
    real = Path(os.path.realpath(path))
    for base in (_real_dir(str(root)), _real_dir(os.getcwd())):
        try:
            rel = real.relative_to(base)
            return str(rel) if str(rel) != "." else "."
        except ValueError:
            continue
    return str(real)


def is_component(kfile: Path) -> bool:
    """True for `kind: Component` kustomizations."""
    parsed = model.load(kfile)
    return parsed is not None and parsed.is_component


# --- the repository listing -----------------------------------------------------------------


def _git_files(root: Path) -> list[tuple[str, bool]] | None:
    """(path, is a symlink) of the work tree's tracked and untracked, non-ignored files, or
    None when `root` is not a git work tree (then the dirs are walked)."""
    from kustodian import git

    listing = git.worktree_listing(root)
    if listing is None:
        return None
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for entry in listing.decode("utf-8", "surrogateescape").split("\0"):
        if not entry:
            continue
        if entry.startswith("? "):
            path = entry[2:]
            link = os.path.islink(os.path.join(root, path))
        else:
            meta, tab, path = entry[2:].partition("\t")
            if not tab or path in seen:
                continue
            mode = meta.split(" ", 1)[0]
            if mode == "160000":          # a submodule: not part of this repository's tree
                continue
            link = mode == "120000"
        seen.add(path)
        out.append((path, link))
    return out


def _walk_files(root: Path) -> list[tuple[str, bool]]:
    """(path, is a symlink) of every file under root but .git, without following links."""
    out: list[tuple[str, bool]] = []
    top = str(root)
    for current, dirs, names in os.walk(top):
        rel = os.path.relpath(current, top)
        rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        keep = []
        for d in sorted(dirs):
            if d == ".git":
                continue
            if os.path.islink(os.path.join(current, d)):
                out.append((rel + d, True))
            else:
                keep.append(d)
        dirs[:] = keep
        out.extend((rel + n, os.path.islink(os.path.join(current, n))) for n in sorted(names))
    return out


def list_repository(root: Path, walk: bool = False) -> list[str]:
    """Every file of the repository as a repository-relative posix path: git's listing (or a
    walk, always with `walk`), with symlinked dirs inside the repository expanded under the
    link's path. A symlink leading outside the repository is a KustodianError."""
    return list_repository_links(root, walk)[0]


def list_repository_links(root: Path, walk: bool = False
                          ) -> tuple[list[str], dict[str, str]]:
    """`list_repository`, and its symlinked dirs: link path -> target path ("" for the
    root), both repository-relative."""
    entries = None if walk else _git_files(root)
    if entries is None:
        entries = _walk_files(root)
    real_root = os.path.realpath(root)
    files: list[str] = []
    links: list[tuple[str, str]] = []          # (link path, target path) for dir links
    for path, link in entries:
        if not link:
            files.append(path)
            continue
        target = os.path.realpath(os.path.join(root, path))
        rel = os.path.relpath(target, real_root).replace(os.sep, "/")
        if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
            raise KustodianError(
                "symlink leads outside the repository", file=path,
                hint="kustomize and Argo CD would read files the gate cannot see: copy them "
                     "into the repository or remove the link")
        if os.path.isdir(target):
            if rel == "." or (path + "/").startswith(rel + "/"):
                raise KustodianError("symlink loop: the link points at a dir above itself",
                                     file=path, hint="remove the link")
            links.append((path, "" if rel == "." else rel))
        elif os.path.exists(target):
            files.append(path)
    if links:
        files.extend(_expand_links(files, links))
    return sorted(set(files)), dict(links)


def _expand_links(files: list[str], links: list[tuple[str, str]]) -> list[str]:
    """The files seen through symlinked dirs (links within linked dirs too, bounded)."""
    by_dir: dict[str, list[str]] = {}
    for path in files:
        parts = path.split("/")
        for i in range(1, len(parts)):
            by_dir.setdefault("/".join(parts[:i]), []).append(path)
    out: list[str] = []
    pending = list(links)
    rounds = 0
    while pending and rounds < 8:
        rounds += 1
        more: list[tuple[str, str]] = []
        for link, target in pending:
            for path in by_dir.get(target, []):
                out.append(link + path[len(target):])
            for other, other_target in links:          # a link inside the linked dir
                if other.startswith(target + "/"):
                    more.append((link + other[len(target):], other_target))
        pending = more
    return out


# --- the kustomization graph ------------------------------------------------------------------


_TOKEN = re.compile(r"[^\s\"'\[\],#=\0]+")


def _has_manifests(root: Path) -> bool:
    """Whether a kustomization or manifest file lies anywhere under root (hidden dirs
    aside); stops at the first."""
    for _current, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(n.endswith(MANIFEST_SUFFIXES) or n == "Kustomization" for n in names):
            return True
    return False


@dataclass
class Graph:
    """The kustomization dirs of a listing and which of them include which.

    A dir is proven included only by parsing an includer; the texts are scanned first so that
    only kustomizations naming a dir whose inclusion is still open are parsed (a monorepo's
    thousands of overlays all include their base: one parse proves it). A text a scan cannot
    read (an escaped path) proves nothing, so its dirs stay targets: the safe side."""

    root: Path
    dirs: dict[str, str]                       # dir -> kustomization file name
    links: dict[str, str] = field(default_factory=dict)   # symlinked dir -> its target
    _includes: dict[str, set[str]] = field(default_factory=dict)
    _raws: dict[str, bytes | None] = field(default_factory=dict)

    @classmethod
    def of(cls, root: Path, listing: Iterable[str], links: dict[str, str] | None = None
           ) -> Graph:
        found: dict[str, set[str]] = {}
        for path in listing:
            base = posixpath.basename(path)
            if base in NAMES:
                found.setdefault(posixpath.dirname(path) or ".", set()).add(base)
        return cls(root, {d: next(n for n in NAMES if n in names) for d, names in found.items()},
                   dict(links or {}))

    def _base(self, directory: str) -> str:
        """The dir relative references of its kustomization resolve from: its real path
        (kustomize resolves from there when the dir is reached through a symlink)."""
        real = real_path("" if directory == "." else directory, self.links)
        return "" if real == "." else real

    def _included(self, path: str | None) -> set[str]:
        """The kustomization dirs a resolved reference includes: the path, and its real
        path when it goes through a symlinked dir (kustomize builds that one)."""
        if path is None:
            return set()
        out = {p or "." for p in (path, real_path(path, self.links))}
        return {p for p in out if p in self.dirs}

    def _raw(self, directory: str) -> bytes | None:
        if directory not in self._raws:
            path = self.root / directory / self.dirs[directory]
            try:
                self._raws[directory] = read_bytes(path, str(path), limit=model.MAX_BYTES)
            except KustodianError:
                self._raws[directory] = None
        return self._raws[directory]

    def includes(self, directory: str) -> set[str]:
        """The kustomization dirs one kustomization includes (parsed once)."""
        if directory not in self._includes:
            parsed = model.parse(self._raw(directory))
            rel = self._base(directory)
            targets: set[str] = set()
            for ref in parsed.references if parsed else ():
                if ref.field in INCLUDE_FIELDS:
                    targets |= self._included(model.resolve(rel, ref.path))
            self._includes[directory] = targets - {directory}
        return self._includes[directory]

    def _named(self, directory: str, open_names: set[str], candidates: set[str]) -> set[str]:
        """The candidate dirs a kustomization's text may name (a scan, parsed next)."""
        raw = self._raw(directory)
        if raw is None:
            return set()
        rel = self._base(directory)
        out = set()
        for token in _TOKEN.findall(raw.decode("utf-8", "replace")):
            token = token.rstrip("/") or token
            if posixpath.basename(token) in open_names or token in (".", ".."):
                out |= self._included(model.resolve(rel, token)) & candidates
        return out - {directory}

    def roots(self, among: Iterable[str], always: set[str]) -> list[str]:
        """The dirs of `among` nobody among them includes (or listed in `always`), plus any
        left unreached by those (an include cycle, which kustomize then reports)."""
        among = sorted(among, key=_dir_order)
        pool = set(among)
        candidates = pool - always
        names = {posixpath.basename(c) for c in candidates}
        included: set[str] = set()
        still_open = set(candidates)
        edges: dict[str, set[str]] = {}
        for src in among:
            if not still_open:
                break
            if self._named(src, names, still_open):
                edges[src] = self.includes(src) & pool
                included |= edges[src]
                still_open -= edges[src]
        roots = [d for d in among if d in always or (d not in included and self.produces(d))]
        reached: set[str] = set()
        stack = list(roots)
        while stack:
            current = stack.pop()
            if current in reached:
                continue
            reached.add(current)
            stack.extend(edges.get(current, ()))
        return roots + [d for d in among if d not in reached and self.produces(d)]

    def produces(self, directory: str) -> bool:
        """Whether building the dir alone outputs anything (else it is no target: a
        patch-only Component changes its includers' resources, checked through them)."""
        parsed = model.parse(self._raw(directory))
        return parsed is None or parsed.produces_resources


def _dir_order(directory: str) -> tuple:
    return tuple(directory.split("/"))


# --- discovery ---------------------------------------------------------------------------------


class Discovery:
    """One repository's listing, kustomization graph and config, shared by the target
    sources (see the module docstring)."""

    def __init__(self, root: Path, config: RepoConfig, walk: bool = False) -> None:
        self.root = root
        self.config = config
        self.walk = walk               # list by walking the dirs, not through git
        self.ignored = {str(rule): 0 for rule in config.ignore}   # rule -> files it left out
        self.links: dict[str, str] = {}        # symlinked dir -> target (set by `listing`)

    @cached_property
    def listing(self) -> list[str]:
        """The repository's files not left out by an ignore rule."""
        kept = []
        files, self.links = list_repository_links(self.root, self.walk)
        for path in files:
            rule = self.config.ignore_rule(path)
            if rule is None:
                kept.append(path)
            else:
                self.ignored[rule] = self.ignored.get(rule, 0) + 1
        return kept

    @cached_property
    def graph(self) -> Graph:
        return Graph.of(self.root, self.listing, self.links)

    @cached_property
    def chart_dirs(self) -> set[str]:
        """Helm chart dirs (a Chart.yaml, no kustomization): their templates are not
        manifests; the Argo CD Applications that use a chart render it (kustodian.argocd)."""
        return {posixpath.dirname(p) or "." for p in self.listing
                if posixpath.basename(p) == "Chart.yaml"} - set(self.graph.dirs)

    def is_plain_manifest(self, path: str) -> bool:
        """A manifest file outside every kustomization tree and Helm chart."""
        if not path.endswith(MANIFEST_SUFFIXES) or self.tree_of(path) is not None:
            return False
        parent = posixpath.dirname(path)
        while True:
            if (parent or ".") in self.chart_dirs:
                return False
            if not parent:
                break
            parent = posixpath.dirname(parent)
        return is_manifest(self.root / path)

    def tree_of(self, path: str) -> str | None:
        """The nearest kustomization dir at or above a file's dir."""
        directory = posixpath.dirname(path)
        while True:
            if (directory or ".") in self.graph.dirs:
                return directory or "."
            if not directory:
                return None
            directory = posixpath.dirname(directory)


TargetSource = Callable[[Discovery], list[Target]]


def kustomization_targets(found: Discovery) -> list[Target]:
    """Every kustomization root of the repository."""
    always = {d for d in found.graph.dirs if d in found.config.overlays}
    roots = found.graph.roots(found.graph.dirs, always)
    return [Target("overlay", found.root / d, d, found.config.env_for(d)) for d in roots]


def manifest_file_targets(found: Discovery) -> list[Target]:
    """The plain Kubernetes manifest files outside every kustomization tree."""
    files = [found.root / p for p in found.listing if found.is_plain_manifest(p)]
    if not files:
        return []
    return [Target("files", files[0], display_path(files[0].parent, found.root), None, files)]


def chart_targets(found: Discovery) -> list[Target]:
    """Helm chart dirs outside every kustomization tree: rendered with their default values
    unless an Application renders them (kustodian.argocd), never skipped."""
    charts = sorted((c for c in found.chart_dirs if found.tree_of(c + "/Chart.yaml") is None
                     and not any(c.startswith(o + "/") for o in found.chart_dirs)),
                    key=_dir_order)
    return [Target("chart", found.root / c, c, found.config.env_for(c)) for c in charts]


def target_sources() -> list[TargetSource]:
    """The sources `discover` gathers targets from, in report order."""
    return [kustomization_targets, chart_targets, manifest_file_targets]


def _names_both_by_lines(raw: bytes) -> bool:
    """Whether a document of `raw` has a column-0 `apiVersion:` line and a `kind:` line,
    looking at one document after the other and stopping at the first that has both (the
    first, in a manifest)."""
    start = 0
    while True:
        brk = _DOCUMENT_BREAK.search(raw, start + 3 if start or raw.startswith(b"---") else 0)
        end = brk.start() if brk is not None else len(raw)
        if _TOP_API_VERSION.search(raw, start, end) and _TOP_KIND.search(raw, start, end):
            return True
        if brk is None:
            return False
        start = brk.start()


def _may_spell_keys(raw: bytes) -> bool:
    """Whether a text could name apiVersion and kind without those bytes: escapes in a
    double-quoted YAML or JSON string (`"api\\x56ersion"`), or an encoding other than UTF-8
    (a BOM or NUL bytes, as in UTF-16), which kubectl and Argo CD read too."""
    return b"\\" in raw or b"\0" in raw or raw.startswith((b"\xfe\xff", b"\xff\xfe"))


def is_manifest(path: Path) -> bool:
    """Whether a YAML/JSON file holds a Kubernetes object (a document with apiVersion and
    kind), or cannot be parsed while naming both (then the check reports why). The common
    case is answered from the lines alone; it errs only towards checking a file (a column-0
    key inside a multi-line quoted scalar), never towards skipping one."""
    try:
        raw = read_bytes(path, str(path), limit=_MAX_SNIFF_BYTES)
    except KustodianError:
        return True            # unreadable, too large, not a regular file: the check says why
    if (b"apiVersion" not in raw or b"kind" not in raw) and not _may_spell_keys(raw):
        return False
    if _names_both_by_lines(raw):
        return True            # by lines; anything else (JSON, flow style...) is parsed
    try:
        docs = list(yaml.load_all(raw, Loader=_Loader))
    except (yaml.YAMLError, ValueError):
        return True
    return any(isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in docs)


def _explicit(paths: list[str], root: Path) -> tuple[list[tuple[Path, str]], list[Path],
                                                   list[Path]]:
    """The PATHs sorted into (dir, display) pairs, plain files and Dockerfiles."""
    dirs: list[tuple[Path, str]] = []
    files: list[Path] = []
    dockerfiles: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise KustodianError("no such file or directory", file=str(path),
                                 hint="pass a kustomization directory or a manifest file")
        if path.is_file():
            (dockerfiles if is_dockerfile(path) else files).append(path)
        else:
            dirs.append((path, display_path(path, root)))
    return dirs, files, dockerfiles


def _under(path: Path, root: Path) -> str | None:
    """`path` relative to the repository root ("." for the root), None when outside."""
    try:
        rel = Path(os.path.realpath(path)).relative_to(_real_dir(str(root)))
    except ValueError:
        return None
    return rel.as_posix() if str(rel) != "." else "."


def _dir_targets(path: Path, shown: str, root: Path, config: RepoConfig,
                 found: Discovery | None) -> tuple[list[tuple[Path, str]], list[Path]]:
    """(kustomization roots, plain manifest files) under one PATH dir. A dir outside the
    repository is discovered on its own; one whose files the repository does not list
    (git-ignored output such as rendered manifests) is walked: a PATH is checked because it
    was asked for."""
    rel = _under(path, root)
    prefix = "" if rel in (None, ".") else rel + "/"
    if rel is None or found is None:
        found = Discovery(path, RepoConfig(root=path))
        rel, prefix = ".", ""
    elif prefix and not any(p.startswith(prefix) for p in found.listing):
        found = Discovery(path, RepoConfig(root=path), walk=True)   # git lists none of it
        rel, prefix = ".", ""
    pool = [d for d in found.graph.dirs if rel == "." or d == rel or d.startswith(prefix)]
    always = {d for d in pool if d in config.overlays or d == rel}
    roots = found.graph.roots(pool, always)

    def shown_of(d: str) -> str:
        tail = d if rel == "." else d[len(prefix):] if d != rel else ""
        return os.path.normpath(os.path.join(shown, tail)) if tail and d != "." else shown

    overlays = [(found.root / d, shown_of(d)) for d in roots]
    files = [found.root / p for p in found.listing
             if (rel == "." or p.startswith(prefix)) and found.is_plain_manifest(p)]
    return overlays, files


def discover(paths: list[str], root: Path, config: RepoConfig, env: str | None,
             found: Discovery | None = None) -> list[Target]:
    """Targets for the given PATHs, or every target source's targets for the repository.
    `found` (optional): the Discovery to use (its `ignored` counts feed the report)."""
    from kustodian.config import canonical_env

    env = canonical_env(env, config.env_order)
    found = found or Discovery(root, config)
    explicit = bool(paths)
    targets: list[Target] = []
    dockerfiles: list[Path] = []
    if not explicit:
        for source in target_sources():
            targets.extend(source(found))
        if not targets:
            raise KustodianError(f"no kustomization or Kubernetes manifest found under {root}",
                                 hint="pass the kustomization dirs or manifest files to "
                                      "check as PATH")
        if (root / "Dockerfile").is_file():
            dockerfiles.append(root / "Dockerfile")
    else:
        dirs, plain, dockerfiles = _explicit(paths, root)
        for path, shown in dirs:
            overlays, files = _dir_targets(path, shown, root, config, found)
            targets.extend(Target("overlay", p, where, env or config.env_for(where),
                                  explicit=True)
                           for p, where in overlays)
            plain.extend(files)
            if not overlays and not files:
                raise KustodianError("no kustomization or YAML manifest found in this "
                                     "directory", file=shown)
        if plain:
            first = plain[0]
            targets.append(Target("files", first, display_path(first.parent, root), env,
                                  list(dict.fromkeys(plain))))
    for target in targets:
        if target.kind == "files" and env:
            target.env = env
    if dockerfiles:
        targets.append(Target("dockerfile", dockerfiles[0], display_path(dockerfiles[0], root),
                              None, dockerfiles))
    return targets


def only_env(report: Report, targets: list[Target], env: str, config: RepoConfig) -> None:
    """`--env ENV` without PATH: keep the findings and targets of ENV in `report`. Every
    target was checked: one of another env (the platform's `argocd/`, a loose Application
    file) may hold the Applications that deploy to ENV, and those are ENV's targets too."""
    from kustodian.config import canonical_env

    env = canonical_env(env, config.env_order) or env
    known = sorted({t["env"] for t in report.targets if t.get("env")}
                   | {t.env for t in targets if t.kind == "overlay" and t.env})
    report.findings = [f for f in report.findings if f.env == env]
    report.targets = [t for t in report.targets if t.get("env") == env]
    if not report.targets:
        raise KustodianError(f"no overlay belongs to env {env!r}",
                             file=str(config.path) if config.path else None,
                             hint=f"known envs: {', '.join(known) or 'none'}; map overlays "
                                  "to envs in .kustodian.yaml `overlays:`")
    shown = {t["target"] for t in report.targets}
    report.overlays = [o for o in report.overlays if o in shown]


class DiscoveryScope:
    """The kustomization roots `discover` would return, answerable for a few dirs without
    listing the repository (pull-request mode asks only about the dirs a change reaches).

    `all()` is discover's root list (display paths, in its order). `among(dirs, included)` is
    the part of it that lies in `dirs` (repository-relative): a dir holding a kustomization
    file, not left out by an ignore rule, and mapped in the config or not in `included` (the
    dirs another kustomization includes, which PR mode computes from every kustomization's
    text). Explicit PATHs (narrow by nature) are discovered at once, which also keeps
    discover's "nothing found here" error. `files_among(paths)`: the plain manifest files
    among the given paths. `--env` without PATH filters by env and must know every root:
    use `discover` then.
    """

    def __init__(self, paths: list[str], root: Path, config: RepoConfig,
                 env: str | None = None) -> None:
        from kustodian.config import canonical_env

        self.root = root
        self.config = config
        self.explicit = bool(paths)
        self.env = canonical_env(env, config.env_order)
        if self.env and not self.explicit:
            raise ValueError("DiscoveryScope cannot filter by env without PATHs; use discover")
        self._targets: list[Target] | None = None
        self._plain: set[str] = set()
        if self.explicit:
            self._targets = discover(paths, root, config, env)
            self.tops = frozenset(d for p in paths if (d := _under(Path(p), root)))
            for t in self._targets:
                if t.kind == "files":
                    self._plain |= {r for f in t.files if (r := _under(f, root))}
        else:
            self.tops = frozenset({"."})

    def _all_targets(self) -> list[Target]:
        if self._targets is None:
            self._targets = discover([], self.root, self.config, None)
        return self._targets

    def all(self) -> list[str]:
        return [t.display for t in self._all_targets() if t.kind == "overlay"]

    def among(self, dirs: set[str], included: set[str] | None = None) -> list[str]:
        if self._targets is not None:
            return [o for o in self.all() if o in dirs]
        found = []
        for directory in sorted(dirs, key=_dir_order):
            if directory.split("/")[0] == ".git":
                continue
            name = next((n for n in NAMES if (self.root / directory / n).is_file()), None)
            if name is None:
                continue
            kpath = name if directory == "." else f"{directory}/{name}"
            if self.config.ignore_rule(kpath) is not None:
                continue
            if directory in self.config.overlays:
                found.append(directory)
            elif directory not in (included or set()):
                parsed = model.load(self.root / directory / name)
                if parsed is None or parsed.produces_resources:
                    found.append(directory)
        return found

    def files_among(self, paths: set[str]) -> list[str]:
        """The paths that are plain manifest files discover would check (at HEAD)."""
        if self._targets is not None and self.explicit:
            return sorted(p for p in paths if p in self._plain)
        out = []
        for path in sorted(paths):
            if (not path.endswith(MANIFEST_SUFFIXES) or path.split("/")[0] == ".git"
                    or not os.path.lexists(self.root / path)):
                continue
            if self.config.ignore_rule(path) is not None:
                continue
            parent = posixpath.dirname(path)
            in_tree = False
            while True:
                here = self.root / parent if parent else self.root
                if kustomization_file(here) or (here / "Chart.yaml").is_file():
                    in_tree = True       # a kustomization tree or a Helm chart holds it
                    break
                if not parent:
                    break
                parent = posixpath.dirname(parent)
            if not in_tree and is_manifest(self.root / path):
                out.append(path)
        return out

    def ignored_path(self, path: str) -> bool:
        """Whether an ignore rule of the config leaves out this repository-relative path."""
        return self.config.ignore_rule(path) is not None

    def ignored_dir(self, directory: str) -> bool:
        """Whether the kustomization file of this dir is left out by an ignore rule."""
        return any(self.ignored_path(n if directory == "." else f"{directory}/{n}")
                   for n in NAMES)

    def env_of(self, shown: str) -> str | None:
        """The env discover would give this target."""
        own = self.config.env_for(shown)
        return (self.env or own) if self.explicit else own
