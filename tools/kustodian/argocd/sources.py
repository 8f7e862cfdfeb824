"""How the Argo CD repo-server turns one Application source into manifests, as a plan.

For each source the plan is a `Recipe` (kustomize, helm or a plain directory, with the
Application's options) or an `Unrendered` (something the gate cannot render offline: a
plugin, another repository, a chart repository or OCI registry, jsonnet, a chart whose
dependencies are not vendored). Unrendered sources become findings, never silent skips.

The source type is chosen as the repo-server chooses it: an explicit `kustomize:` / `helm:`
/ `directory:` / `plugin:` section (two of them is an error), else a kustomization file in
the source dir (kustomize), else a `Chart.yaml` (helm), else a plain directory. Overrides in
`.argocd-source.yaml` and `.argocd-source-<app>.yaml` in the source dir are merged into the
source first (JSON merge patch), as the repo-server does.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kustodian.argocd.model import SOURCE_TYPES, Application, Source, normalize_repo_url
from kustodian.errors import KustodianError
from kustodian.kustomize.files import NAMES as KUSTOMIZATION_NAMES

KUSTOMIZE_EDITS = ("namePrefix", "nameSuffix", "images", "replicas", "commonLabels",
                   "commonAnnotations", "namespace", "patches", "components")
SKIP_MARKER = "+argocd:skip-file-rendering"
_MANIFEST = re.compile(r"^.*\.(yaml|yml|json|jsonnet)$")


@dataclass(frozen=True)
class Recipe:
    """One renderable source of one Application."""

    tool: str                        # "kustomize" | "helm" | "directory"
    path: str                        # repository-relative source dir ("." for the root)
    application: str
    index: int                       # position in the Application's sources
    options: str                     # canonical JSON of the tool options (identity)
    edits: bool = False              # kustomize with Application-level options
    files: tuple[str, ...] = ()      # directory: the manifest files, repository-relative
    release: str = ""                # helm: release name
    namespace: str = ""              # helm: --namespace; kustomize: destination namespace
    value_files: tuple[str, ...] = ()  # helm: absolute values files, in order
    root: str = ""                   # the tree it renders from when not the one under check
    commit: str = ""                 # (a commit of this clone written out: Revisions.tree)

    @property
    def opts(self) -> dict[str, Any]:
        return json.loads(self.options)


@dataclass(frozen=True)
class Unrendered:
    """A source the gate cannot render offline, and why."""

    application: str
    index: int
    reason: str
    hint: str


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


def _inside(root: Path, path: Path) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def _with_parameter_files(raw: dict, app_dir: Path, app: Application) -> dict:
    from kustodian.yamlio import load_documents, read_text

    merged = copy.deepcopy(raw)
    for name in (".argocd-source.yaml", f".argocd-source-{app.name}.yaml"):
        file = app_dir / name
        if not file.is_file():
            continue
        docs = load_documents(read_text(file, str(file)), str(file))
        patch = docs[0][1] if docs else None
        if patch is not None and not isinstance(patch, dict):
            raise KustodianError("an Argo CD parameter override file must be a mapping",
                                 file=str(file))
        merged = _merge_patch(merged, patch or {})
    for key in ("repoURL", "path", "chart", "targetRevision"):   # never overridden
        if key in raw:
            merged[key] = raw[key]
    return merged


def plan(app: Application, root: Path, this_repo: frozenset[str], display: Any,
         skip: frozenset[int] = frozenset(),
         trees: dict[int, tuple[Path, str] | None] | None = None
         ) -> tuple[list[Recipe], list[Unrendered]]:
    """Recipes and unrendered sources of one Application. `display(path)` shows a path;
    `skip`: indexes of sources already reported (a revision the clone does not hold).
    `trees`: source index -> (tree, commit) of a source at another commit of this clone
    (None: at a revision the gate cannot read); the others read `root`."""
    recipes: list[Recipe] = []
    skipped: list[Unrendered] = []
    trees = trees or {}
    refs = {s.ref: (i, s) for i, s in enumerate(app.sources) if s.ref}
    ref_root = {name: (trees[i] or (None, ""))[0] if i in trees else root
                for name, (i, _) in refs.items()}
    for index, source in enumerate(app.sources):
        if index in skip:
            continue
        tree, commit = trees.get(index) or (root, "")
        at = {"root": str(tree), "commit": commit} if commit else {}
        if source.ref and not source.path and not source.chart:
            continue      # a values-only source: renders nothing in Argo CD either
        why = _offline_problem(source, this_repo)
        if why is not None:
            skipped.append(Unrendered(app.name, index, *why))
            continue
        rel = os.path.normpath(source.path or ".").replace(os.sep, "/")
        if os.path.isabs(rel) or rel == ".." or rel.startswith("../"):
            raise KustodianError(f"Application {app.name}: source path {source.path!r} "
                                 "leaves the repository", file=app.where)
        app_dir = tree / rel
        if not app_dir.is_dir():
            raise KustodianError(f"Application {app.name}: source path {rel!r} is not a "
                                 "directory of this repository", file=app.where,
                                 hint="Argo CD fails to sync it; fix spec.source.path")
        if not _inside(tree, app_dir):
            raise KustodianError(f"Application {app.name}: source path {rel!r} is a symlink "
                                 "out of the repository", file=app.where)
        raw = _with_parameter_files(source.raw, app_dir, app)
        explicit = [k for k in SOURCE_TYPES if raw.get(k) is not None]
        if len(explicit) > 1:
            raise KustodianError(f"Application {app.name}: multiple source types "
                                 f"{', '.join(explicit)} on one source", file=app.where,
                                 hint="Argo CD refuses it too; keep one")
        tool = explicit[0] if explicit else _discover_type(app_dir)
        if tool == "plugin":
            skipped.append(Unrendered(app.name, index, "a config management plugin renders "
                                      "this source", "the gate does not run plugins; render "
                                      "with kustomize, helm or plain manifests"))
            continue
        options = raw.get(tool) or {}
        if not isinstance(options, dict):
            raise KustodianError(f"Application {app.name}: source {tool} must be a mapping",
                                 file=app.where)
        if tool == "directory":
            files, problem = _directory_files(app_dir, tree, options, app)
            if problem:
                skipped.append(Unrendered(app.name, index, *problem))
                continue
            recipes.append(Recipe("directory", rel, app.name, index, _canon(options),
                                  files=tuple(files), **at))
        elif tool == "helm":
            recipe, problem = _helm_recipe(app, index, rel, app_dir, tree, options, refs,
                                           this_repo, ref_root)
            if problem:
                skipped.append(Unrendered(app.name, index, *problem))
            if recipe is not None:
                recipes.append(replace(recipe, **at))
        else:
            edits = any(options.get(k) for k in KUSTOMIZE_EDITS)
            recipes.append(Recipe("kustomize", rel, app.name, index, _canon(options),
                                  edits=edits, namespace=app.dest_namespace or "", **at))
    return recipes, skipped


def _canon(options: Any) -> str:
    return json.dumps(options, sort_keys=True, default=str)


def of_this_repo(source: Source, this_repo: frozenset[str]) -> bool:
    """The source is read from this repository (not a chart repository or OCI registry)."""
    return _offline_problem(source, this_repo) is None


def _offline_problem(source: Source, this_repo: frozenset[str]) -> tuple[str, str] | None:
    url = source.repo_url
    if url.startswith("oci://"):
        return (f"source {url} is an OCI artifact",
                "the gate renders only this repository's content offline; vendor the chart "
                "into this repository")
    if source.chart:
        return (f"source is chart {source.chart!r} from the chart repository {url}",
                "the gate renders only this repository's content offline; vendor the chart "
                "into this repository and point the Application at its path")
    if normalize_repo_url(url) not in this_repo:
        if not this_repo:
            return (f"source repository {url} cannot be recognised as this repository",
                    "list this repository's URL(s) in .kustodian.yaml `repoURLs:` (or check "
                    "a clone with an `origin` remote)")
        return (f"source repository {url} is not this repository",
                "the gate checks only this repository; check that repository with its own "
                "gate, or add its URL to .kustodian.yaml `repoURLs` if it is this one")
    return None


def _discover_type(app_dir: Path) -> str:
    names = set(os.listdir(app_dir))
    if any(n in names for n in KUSTOMIZATION_NAMES):
        return "kustomize"
    if "Chart.yaml" in names:
        return "helm"
    return "directory"


_GLOB_CACHE: dict[str, re.Pattern] = {}


def glob_match(pattern: str, text: str) -> bool:
    """Argo CD's glob.Match (gobwas/glob without separators): `*` and `**` match any run of
    characters including `/`, `?` one character, `[...]` a class, `{a,b}` alternatives."""
    regex = _GLOB_CACHE.get(pattern)
    if regex is None:
        out, i, depth = "", 0, 0
        while i < len(pattern):
            ch = pattern[i]
            if ch == "\\" and i + 1 < len(pattern):
                out += re.escape(pattern[i + 1])
                i += 1
            elif ch == "*":
                out += ".*"
                while i + 1 < len(pattern) and pattern[i + 1] == "*":
                    i += 1
            elif ch == "?":
                out += "."
            elif ch == "[":
                end = pattern.find("]", i + 1)
                if end == -1:
                    out += re.escape(ch)
                else:
                    inner = pattern[i + 1:end]
                    neg = inner.startswith("!")
                    inner = inner[1:] if neg else inner
                    out += "[" + ("^" if neg else "") + inner.replace("\\", "\\\\") + "]"
                    i = end
            elif ch == "{":
                out += "(?:"
                depth += 1
            elif ch == "}" and depth:
                out += ")"
                depth -= 1
            elif ch == "," and depth:
                out += "|"
            else:
                out += re.escape(ch)
            i += 1
        regex = re.compile(out + ")" * depth, re.S)
        _GLOB_CACHE[pattern] = regex
    return regex.fullmatch(text) is not None


def _directory_files(app_dir: Path, root: Path, options: dict, app: Application
                     ) -> tuple[list[str], tuple[str, str] | None]:
    """The files a Directory source reads (repository-relative), as the repo-server walks:
    recurse or not, include/exclude globs on the path relative to the source dir, only
    .yaml/.yml/.json(/.jsonnet) unless disableExtensionFilter, symlinks followed inside the
    repository, files with the skip-rendering marker left out."""
    recurse = bool(options.get("recurse"))
    include = str(options.get("include") or "")
    exclude = str(options.get("exclude") or "")
    no_ext_filter = bool(options.get("disableExtensionFilter"))
    found: list[str] = []
    jsonnet: list[str] = []
    real_root = os.path.realpath(root)
    for current, dirs, names in os.walk(app_dir, followlinks=False):
        dirs.sort()
        if not recurse:
            dirs[:] = []
        for name in sorted(names):
            path = os.path.join(current, name)
            rel_app = os.path.relpath(path, app_dir).replace(os.sep, "/")
            if not no_ext_filter and not _MANIFEST.match(name):
                continue
            real = os.path.realpath(path)
            if real != path and not (real + os.sep).startswith(real_root + os.sep):
                raise KustodianError(f"Application {app.name}: {rel_app} is a symlink out of "
                                     "the repository", file=app.where,
                                     hint="Argo CD refuses it too (illegal filepath)")
            if not os.path.isfile(real):
                continue
            if exclude and glob_match(exclude, rel_app):
                continue
            if include and not glob_match(include, rel_app):
                continue
            try:
                with open(real, "rb") as handle:
                    if SKIP_MARKER.encode() in handle.read(16 * 1024 * 1024):
                        continue
            except OSError as exc:
                raise KustodianError(f"cannot read {rel_app}: {exc.strerror}",
                                     file=app.where) from None
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            (jsonnet if name.endswith(".jsonnet") else found).append(rel)
    if jsonnet:
        return found, (f"jsonnet file(s) {', '.join(jsonnet[:3])} in a Directory source",
                       "the gate does not evaluate jsonnet; commit the rendered YAML or "
                       "exclude the .jsonnet files (directory.exclude)")
    return found, None


def chart_problem(app_dir: Path, rel: str) -> tuple[str, str] | None:
    """Why a chart dir cannot be rendered offline (no Chart.yaml, dependencies not
    vendored in charts/), or None."""
    from kustodian.yamlio import load_documents, read_text

    chart = app_dir / "Chart.yaml"
    if not chart.is_file():
        return (f"helm source {rel} has no Chart.yaml",
                "point the Application at a chart directory")
    docs = load_documents(read_text(chart, str(chart)), str(chart))
    meta = docs[0][1] if docs and isinstance(docs[0][1], dict) else {}
    missing = []
    for dep in meta.get("dependencies") or []:
        if not isinstance(dep, dict) or not dep.get("name"):
            continue
        name = str(dep["name"])
        charts = app_dir / "charts"
        present = (charts / name).is_dir() or any(
            p.name.startswith(name + "-") and p.name.endswith(".tgz")
            for p in (charts.iterdir() if charts.is_dir() else []))
        if not present:
            missing.append(name)
    if missing:
        return (f"chart {rel} depends on {', '.join(missing)}, not vendored in "
                f"{rel}/charts/",
                "run `helm dependency build` and commit charts/ (the gate renders offline)")
    return None


def _helm_recipe(app: Application, index: int, rel: str, app_dir: Path, root: Path,
                 options: dict, refs: dict[str, tuple[int, Source]],
                 this_repo: frozenset[str], ref_root: dict[str, Path | None]
                 ) -> tuple[Recipe | None, tuple[str, str] | None]:
    """The helm recipe of a chart source in `root` (its tree). A `$ref/...` values file
    is read in the tree of the `ref:` source, at its own targetRevision (`ref_root`)."""

    problem = chart_problem(app_dir, rel)
    if problem is not None:
        return None, problem
    value_files: list[str] = []
    for item in options.get("valueFiles") or []:
        text = str(item)
        base = root
        if text.startswith("$"):
            name, _, rest = text[1:].partition("/")
            index_ref = refs.get(name)
            if index_ref is None or normalize_repo_url(index_ref[1].repo_url) not in this_repo:
                return None, (f"values file {text} comes from another repository",
                              "the gate renders only this repository's content")
            base = ref_root.get(name)
            if base is None:
                return None, (f"values file {text} comes from source ${name} at a revision "
                              "the gate cannot read offline",
                              "point that source's targetRevision at a revision this clone "
                              "holds")
            path = base / rest
        elif re.match(r"^[a-z][a-z0-9+.-]*://", text):
            return None, (f"values file {text} is fetched over the network",
                          "commit the values file into this repository")
        else:
            path = app_dir / text
        if not _inside(base, path):
            raise KustodianError(f"Application {app.name}: values file {text} is outside the "
                                 "repository", file=app.where)
        if not path.is_file():
            if options.get("ignoreMissingValueFiles"):
                continue
            raise KustodianError(f"Application {app.name}: values file {text} does not exist",
                                 file=app.where)
        value_files.append(str(path))
    release = str(options.get("releaseName") or app.name)
    namespace = str(options.get("namespace") or app.dest_namespace or "")
    return Recipe("helm", rel, app.name, index, _canon(options), release=release,
                  namespace=namespace, value_files=tuple(value_files)), None
