"""Turn the command line's PATHs into targets: overlays to render and plain manifest files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from kustodian.config import RepoConfig
from kustodian.errors import KustodianError
from kustodian.sourcemap import KUSTOMIZATION_NAMES, kustomization_file
from kustodian.yamlio import load_documents, read_text

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
    try:
        text = read_text(kfile, str(kfile))
        if "Component" not in text:   # cheap pre-check: most kustomizations are not
            return False
        docs = load_documents(text, str(kfile))
    except KustodianError:
        return False  # let kustomize report the real problem
    data = docs[0][1] if docs else None
    return isinstance(data, dict) and data.get("kind") == "Component"


def _walk(directory: Path, root: Path) -> tuple[list[tuple[Path, str]], list[Path]]:
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
        kname = next((n for n in KUSTOMIZATION_NAMES if n in names), None)
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
    try:
        docs = load_documents(read_text(kfile, str(kfile)), str(kfile)) if kfile else []
    except KustodianError:
        return frozenset()  # kustomize reports the real problem when the tree renders
    data = docs[0][1] if docs else None
    if not isinstance(data, dict):
        return frozenset()
    entries = [*(data.get("resources") or []), *(data.get("components") or []),
               *(data.get("bases") or [])]
    return frozenset((tree / e).resolve() for e in entries
                     if isinstance(e, str) and (tree / e).is_dir())


def discover(paths: list[str], root: Path, config: RepoConfig, env: str | None) -> list[Target]:
    """Targets for the given PATHs, or every overlay (and argocd/) of the repository."""
    from kustodian.config import canonical_env

    env = canonical_env(env, config.env_order)
    targets: list[Target] = []
    plain: list[Path] = []
    dockerfiles: list[Path] = []
    explicit = bool(paths)
    if not explicit:
        roots = [root / d for d in DEFAULT_ROOTS if (root / d).is_dir()]
        if not roots:
            raise KustodianError(
                f"no overlays/ or argocd/ directory under {root}",
                hint="pass the overlay directories or manifest files to check as PATH")
        candidates = roots
    else:
        candidates = [Path(p) for p in paths]
    for path in candidates:
        shown = display_path(path, root)
        if not path.exists():
            raise KustodianError("no such file or directory", file=str(path),
                                 hint="pass an overlay directory or a manifest file")
        if path.is_file():
            if is_dockerfile(path):
                dockerfiles.append(path)
            else:
                plain.append(path)
            continue
        kfile = kustomization_file(path)
        if kfile is not None and is_component(kfile):
            if explicit:
                raise KustodianError(
                    "is a kustomize Component; it is checked through the overlays that "
                    "include it", file=shown, hint="pass the overlay directory instead")
            continue
        overlays, files = _walk(path, root)
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


def _overlay_target(path: Path, root: Path, config: RepoConfig, env: str | None,
                    explicit: bool, shown: str | None = None) -> Target:
    shown = shown or display_path(path, root)
    own = config.env_for(shown)
    chosen = (env or own) if explicit else own
    return Target("overlay", path, shown, chosen)
