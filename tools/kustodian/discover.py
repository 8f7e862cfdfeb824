"""Turn the command line's PATHs into targets: overlays to render and plain manifest files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kustodian.config import RepoConfig
from kustodian.errors import KustodianError
from kustodian.kustomize import model
from kustodian.kustomize.files import kustomization_file, kustomization_name, name_in
from kustodian.yamlio import read_bytes

DEFAULT_ROOTS = ("overlays", "argocd")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class Target:
    """An overlay directory (rendered by kustomize) or a group of plain manifest files."""

    kind: str                         # "overlay" | "files" | "dockerfile" (conftest only)
    path: Path                        # overlay dir (or the first path given)
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
    """True for `kind: Component` kustomizations (rendered only through their includers)."""
    try:   # a regular file, bounded (a symlink to /dev/zero would never end)
        raw = read_bytes(kfile, str(kfile), limit=model.MAX_BYTES)
    except KustodianError:
        return False  # let kustomize report the real problem
    if b"Component" not in raw:   # cheap pre-check: most kustomizations are not
        return False
    parsed = model.parse(raw)
    return parsed is not None and parsed.is_component


def _walk(directory: Path, root: Path, charts: list[tuple[Path, str]] | None = None
          ) -> tuple[list[tuple[Path, str]], list[Path]]:
    """((overlay dir, display path) pairs, plain manifest files) under `directory`.

    Components and hidden dirs are skipped. Files inside a kustomization tree belong to it and
    are not checked on their own. A kustomization nested inside another one is a target of its
    own unless an enclosing kustomization includes it (e.g. `argocd/bootstrap` beside the
    `argocd/` it reconciles is one; `base/agent/workload` listed in `base/` resources is not).
    Runs on strings and the walk's own listings (no stat or realpath per directory): a
    1000-app monorepo has ~20k directories.
    """
    overlays: list[tuple[Path, str]] = []
    files: list[Path] = []
    top = str(directory)
    shown_top = display_path(directory, root)
    trees: set[str] = set()
    enclosing_of: dict[str, tuple[str, ...]] = {}
    for current, dirs, names in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        parent = os.path.dirname(current)
        enclosing = enclosing_of.get(parent, ()) + ((parent,) if parent in trees else ())
        enclosing_of[current] = enclosing
        if "Chart.yaml" in names and name_in(names) is None:
            dirs[:] = []    # a Helm chart: its templates are not manifests; Applications
            if charts is not None and not enclosing:   # render it, else it is a target
                rel = os.path.relpath(current, top)
                charts.append((Path(current), shown_top if rel == "." else os.path.normpath(
                    os.path.join(shown_top, rel))))
            continue
        kname = name_in(names)
        if kname is not None:
            trees.add(current)
            here = Path(current)
            if not is_component(here / kname) and not any(
                    here.resolve() in _included_dirs(Path(t)) for t in enclosing):
                rel = os.path.relpath(current, top)
                shown = shown_top if rel == "." else os.path.normpath(
                    os.path.join(shown_top, rel))
                overlays.append((here, shown))
            continue
        if not enclosing:
            files.extend(Path(current, n) for n in sorted(names)
                         if n.endswith(MANIFEST_SUFFIXES) and not n.startswith("."))
    return overlays, files


@lru_cache(maxsize=256)
def _included_dirs(tree: Path) -> frozenset[Path]:
    """Directories a kustomization lists as resources or components (resolved)."""
    kfile = kustomization_file(tree)
    parsed = model.load(kfile) if kfile else None
    if parsed is None:
        return frozenset()  # kustomize reports the real problem when the tree renders
    entries = [r.path for r in parsed.references
               if r.field in ("resources", "components", "bases") and not r.remote]
    return frozenset((tree / e).resolve() for e in entries if (tree / e).is_dir())


def _has_manifests(root: Path) -> bool:
    """Whether a kustomization or manifest file lies anywhere under root (hidden dirs
    aside); stops at the first."""
    for _current, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(n.endswith(MANIFEST_SUFFIXES) or n == "Kustomization" for n in names):
            return True
    return False


@dataclass
class _Roots:
    """The validated PATHs (or default roots): dirs to walk, plain files, Dockerfiles."""

    dirs: list[tuple[Path, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    dockerfiles: list[Path] = field(default_factory=list)
    whole: bool = False             # no overlays/ or argocd/: the whole repository is walked


def _roots(paths: list[str], root: Path) -> _Roots:
    """Check the PATHs and sort them into dirs to walk, plain files and Dockerfiles; no PATH:
    overlays/ and argocd/, or the whole repository when it has neither. Components are
    skipped (an error when named explicitly)."""
    explicit = bool(paths)
    found = _Roots()
    if not explicit:
        candidates = [root / d for d in DEFAULT_ROOTS if (root / d).is_dir()]
        if not candidates:         # e.g. envs/ + variants/, or one dir per app: all of it
            candidates = [root]
            found.whole = True
            if not _has_manifests(root):
                raise KustodianError(
                    f"no overlays/ or argocd/ directory under {root}, and no kustomization "
                    "or YAML manifest anywhere in it",
                    hint="pass the overlay directories or manifest files to check as PATH")
    else:
        candidates = [Path(p) for p in paths]
    for path in candidates:
        shown = display_path(path, root)
        if not path.exists():
            raise KustodianError("no such file or directory", file=str(path),
                                 hint="pass an overlay directory or a manifest file")
        if path.is_file():
            (found.dockerfiles if is_dockerfile(path) else found.files).append(path)
            continue
        kfile = kustomization_file(path)
        if kfile is not None and is_component(kfile):
            if explicit:
                raise KustodianError(
                    "is a kustomize Component; it is checked through the overlays that "
                    "include it", file=shown, hint="pass the overlay directory instead")
            continue
        found.dirs.append((path, shown))
    return found


def discover(paths: list[str], root: Path, config: RepoConfig, env: str | None) -> list[Target]:
    """Targets for the given PATHs, or every overlay (and argocd/) of the repository."""
    from kustodian.config import canonical_env

    env = canonical_env(env, config.env_order)
    targets: list[Target] = []
    explicit = bool(paths)
    roots = _roots(paths, root)
    plain, dockerfiles = list(roots.files), list(roots.dockerfiles)
    for path, shown in roots.dirs:
        charts: list[tuple[Path, str]] = []
        overlays, files = _walk(path, root, charts)
        targets.extend(Target("chart", c, where, config.env_for(where) if not explicit
                              else (env or config.env_for(where)), explicit=explicit)
                       for c, where in charts)
        if roots.whole:   # bases other kustomizations build on are checked through them
            included = set().union(*(_included_dirs(o) for o, _ in overlays))
            overlays = [(o, where) for o, where in overlays if o.resolve() not in included]
        targets.extend(_overlay_target(o, root, config, env, explicit, shown=where)
                       for o, where in overlays)
        plain.extend(files)
        if explicit and not overlays and not files:
            raise KustodianError("no kustomization or YAML manifest found in this directory",
                                 file=shown)
    if plain:
        first = plain[0]
        targets.append(Target("files", first, display_path(first.parent, root), env,
                              list(dict.fromkeys(plain))))
    if not explicit and (root / "Dockerfile").is_file():
        dockerfiles.append(root / "Dockerfile")
    if dockerfiles:
        targets.append(Target("dockerfile", dockerfiles[0], display_path(dockerfiles[0], root),
                              None, dockerfiles))
    if env and not explicit:
        known = sorted({t.env for t in targets if t.kind == "overlay" and t.env})
        targets = [t for t in targets if t.env == env or t.kind != "overlay"]
        if not any(t.kind == "overlay" for t in targets):
            raise KustodianError(f"no overlay belongs to env {env!r}",
                                 file=str(config.path) if config.path else None,
                                 hint=f"known envs: {', '.join(known) or 'none'}; map overlays "
                                      "to envs in .kustodian.yaml `overlays:`")
    return targets


class DiscoveryScope:
    """The overlays `discover` would return, answerable for a few dirs without walking the
    whole tree (pull-request mode asks only about the dirs a change reaches).

    `all()` is discover's overlay list (display paths, in its order); `among(dirs)` is the
    part of it that lies in `dirs` (repository-relative), found by checking each dir the way
    the walk would: under a root, no hidden or symlinked dir on the way, a kustomization that
    is not a Component and that no enclosing kustomization includes. The default roots are
    answered lazily; explicit PATHs (narrow by nature) are walked at once, which also keeps
    discover's "nothing found here" error. Plain manifest files are not overlays: not here.
    `--env` without PATH filters by env and must know every overlay: use `discover` then.
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
        self.roots = _roots(paths, root).dirs
        self._walked: dict[int, list[tuple[Path, str]]] = {}
        if self.explicit:
            for index, (path, shown) in enumerate(self.roots):
                overlays, files = _walk(path, root)
                if not overlays and not files:
                    raise KustodianError(
                        "no kustomization or YAML manifest found in this directory", file=shown)
                self._walked[index] = overlays
        self.tops = frozenset(shown for _, shown in self.roots)

    def _overlays(self, index: int) -> list[tuple[Path, str]]:
        if index not in self._walked:
            self._walked[index] = _walk(self.roots[index][0], self.root)[0]
        return self._walked[index]

    def all(self) -> list[str]:
        return list(dict.fromkeys(shown for i in range(len(self.roots))
                                  for _, shown in self._overlays(i)))

    def among(self, dirs: set[str]) -> list[str]:
        found: list[tuple[int, tuple[str, ...], str]] = []
        for index, (path, shown) in enumerate(self.roots):
            if index in self._walked:
                found.extend((index, (), where) for _, where in self._walked[index]
                             if where in dirs)
                continue
            top = str(path)
            for directory in dirs:
                rel = os.path.normpath(os.path.relpath(self.root / directory, top))
                if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
                    continue
                parts = () if rel == "." else tuple(rel.split("/"))
                if _walk_finds(top, parts):
                    where = shown if not parts else os.path.normpath(
                        os.path.join(shown, *parts))
                    found.append((index, parts, where))
        found.sort(key=lambda item: (item[0], item[1]))
        return list(dict.fromkeys(where for _, _, where in found))

    def env_of(self, shown: str) -> str | None:
        """The env discover would give this overlay."""
        own = self.config.env_for(shown)
        return (self.env or own) if self.explicit else own


def _walk_finds(top: str, parts: tuple[str, ...]) -> bool:
    """Whether `_walk(top)` lists top/<parts> as an overlay (see DiscoveryScope)."""
    if any(p.startswith(".") for p in parts):
        return False                       # the walk skips hidden dirs
    current = top
    enclosing: list[str] = []
    for part in parts:
        if kustomization_name(current):
            enclosing.append(current)      # a kustomization tree around the dir
        current = os.path.join(current, part)
        if os.path.islink(current) or not os.path.isdir(current):
            return False                   # the walk does not follow symlinked dirs
    kname = kustomization_name(current)
    if kname is None or is_component(Path(current, kname)):
        return False
    here = Path(current).resolve()
    return not any(here in _included_dirs(Path(t)) for t in enclosing)


def _overlay_target(path: Path, root: Path, config: RepoConfig, env: str | None,
                    explicit: bool, shown: str | None = None) -> Target:
    shown = shown or display_path(path, root)
    own = config.env_for(shown)
    chosen = (env or own) if explicit else own
    return Target("overlay", path, shown, chosen, explicit=explicit)
