"""Pull-request mode's view of Argo CD: which targets hold Applications or ApplicationSets,
or may. They are checked on every change, with the whole base tree, because what an
Application deploys (its source dir, values files, parameter override files, the files and
dirs a git generator lists, other Applications) can be anywhere in the tree and anything the
Application says about it can change the render.

A target holds (or may hold) an Argo CD object when one of these is one of its inputs (the
same closure as any change: the kustomizations that render it), lies in its dir tree, or is
itself a plain manifest file: a file naming `argoproj.io/v`; a file whose text a YAML reader
decodes (escapes, tags, UTF-16) into a string naming it; a kustomization using a field that
splices strings into other fields (replacements, vars, configurations, crds, plugins). Every
Helm chart a full check renders on its own may hold one (a template computes any string).
A target that held Applications only at the base is affected anyway: removing them changed
its inputs. What escapes these rules is caught after the render: see
kustodian.commands.check.unpredicted (PR mode's backstop)."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kustodian import git

MARKER = "argoproj.io/v"          # in `apiVersion: argoproj.io/v1alpha1`, not in annotations
SUFFIXES = (".yaml", ".yml", ".json")
# What a YAML reader (kustomize, kubectl, Argo CD) decodes into other text: a backslash (an
# escape in a double-quoted scalar, `"argoproj\x2eio/v1alpha1"`, on whatever line of the
# scalar it stands), a tag (`!!binary`, a verbatim `!<...>`, a `%TAG` directive), a UTF-16
# byte order mark (git sees such a file as bytes, never as the marker).
DECODED = (r"\\", r"!!|!<|%TAG", "^(\udcff\udcfe|\udcfe\udcff)")
_DECODED = re.compile(rb"\\|!!|!<|%TAG|^(?:\xff\xfe|\xfe\xff)", re.MULTILINE)
# Kustomization fields that splice one string into part of another field of what a
# kustomization renders (replacements `delimiter`/`index`, vars, fieldSpecs of
# configurations, crds or plugin configs: a PrefixSuffixTransformer on `apiVersion`), so the
# apiVersion of an Argo CD object can be assembled from pieces that never name it.
SPLICING = ("replacements", "vars", "configurations", "crds", "transformers", "generators")
_SPLICING = re.compile(r"""(?:^|[\s{,])["']?(?:""" + "|".join(SPLICING) + r""")["']?\s*:""",
                       re.MULTILINE)
_MAX_SCAN = 16 * 1024 * 1024


def _candidates(repo: Path, rels: Iterable[str], skip: Callable[[str], bool]
                ) -> tuple[list[str], list[str]]:
    """(files holding an Argo CD object, other files kustomize may read as one) among `rels`:
    a file naming MARKER holds one, whatever its name (kustomize reads a resource of any
    name); a YAML/JSON file whose text a reader decodes (see DECODED) holds one when a
    decoded string names MARKER (an Argo CD object, or a patch or config writing one) or it
    cannot be parsed to tell; another file with such text is kept for the kustomizations
    that read it (plain manifest files and directory sources are YAML/JSON files only)."""
    found, opaque = [], []
    for rel in rels:
        path = os.path.join(repo, rel)
        try:
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as handle:
                data = handle.read(_MAX_SCAN)
        except OSError:
            continue
        if MARKER.encode() in data:
            found.append(rel)
        elif skip(rel) or not _DECODED.search(data):
            continue
        elif not rel.endswith(SUFFIXES):
            opaque.append(rel)
        elif _decodes_to_marker(data, rel):
            found.append(rel)
    return found, opaque


def _decodes_to_marker(data: bytes, shown: str) -> bool:
    """Whether a YAML/JSON text holds an Argo CD object or a string naming MARKER once
    decoded (or cannot be read to tell)."""
    import yaml

    from kustodian.argocd.model import is_argocd_object
    from kustodian.errors import KustodianError
    from kustodian.yamlio import check_structure

    try:
        if len(data) >= _MAX_SCAN:
            return True
        text = (data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff")
                else data.decode("utf-8-sig"))
        check_structure(text, shown)
        docs = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except (KustodianError, yaml.YAMLError, ValueError, RecursionError):
        return True
    return any(is_argocd_object(d) for d in docs) or _names_marker(docs)


def _names_marker(value: Any) -> bool:
    """Whether a parsed value holds a string (or `!!binary` bytes) naming MARKER."""
    stack, marker = [value], MARKER.encode()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if MARKER in item:
                return True
        elif isinstance(item, bytes):
            if marker in item or marker in item.decode("utf-16", "ignore").encode():
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def argocd_files(repo: Path, changed: set[str],
                 skip: Callable[[str], bool] = lambda _path: False
                 ) -> tuple[list[str], list[str]]:
    """(files holding an Argo CD object, files kustomize may read as one) in the work tree,
    tracked ones (one `git grep` finds every candidate) and changed ones (untracked too):
    see `_candidates`. `skip` names the paths ignore rules leave out."""
    hits = set(git.grep_files(repo, [re.escape(MARKER), *DECODED], timeout=120)) | changed
    found, opaque = _candidates(repo, sorted(hits), skip)
    return found, opaque


def splicing_kustomizations(texts: Any, head: Any) -> list[str]:
    """The kustomization files using a SPLICING field: what they render may hold an Argo CD
    object whatever their inputs say. A search of every kustomization's text (read once per
    run, see prmode.scope.KustomizationTexts) for the field names finds the candidates;
    those and the texts a scan cannot judge (escapes) are parsed to confirm a top-level
    field that may write an apiVersion."""
    from kustodian.kustomize import model

    text, candidates = texts.text, set()
    for name in SPLICING:                  # str.find: one C-speed scan per name
        at = text.find(name)
        while at >= 0:
            if _SPLICING.search(text, max(at - 2, 0), at + len(name) + 64):
                candidates.add(texts.dir_at(at))
            at = text.find(name, at + len(name))
    found = []
    for directory in sorted(candidates | texts.always):
        kfile = head.kustomization(directory)
        parsed = model.parse(texts.text_of(directory))
        if kfile and (parsed is None or any(parsed.data.get(k) for k in SPLICING[1:])
                      or not _replaces_elsewhere(parsed.data.get("replacements"))):
            found.append(kfile)
    return found


_FIELD = re.compile(r"[A-Za-z0-9_-]+")


def _replaces_elsewhere(replacements: Any) -> bool:
    """Whether inline `replacements` provably write no top-level `apiVersion`: each target's
    fieldPaths start with a plain field name other than it (a replacement kept in a file,
    a wildcard or a bracketed first segment may write anywhere)."""
    if not replacements:
        return True
    if not isinstance(replacements, list):
        return False
    for entry in replacements:
        if not isinstance(entry, dict) or "path" in entry:
            return False
        for target in entry.get("targets") or []:
            if not isinstance(target, dict):
                return False
            for path in target.get("fieldPaths") or []:
                first = str(path).split(".", 1)[0]
                if not _FIELD.fullmatch(first) or first == "apiVersion":
                    return False
    return True


def chart_dirs(git_: Any, changed: set[str], kustomization_dirs: Iterable[str],
               skip: Callable[[str], bool]) -> list[str]:
    """The Helm charts a full check renders on their own (kustodian.discover.chart_targets):
    a Chart.yaml dir outside every kustomization tree and every other chart, at HEAD, and
    the chart dirs the change touched (a chart deleted at HEAD is one at the base). Their
    templates can compute any string (printf, b64dec, tpl, values, `.Files.Get`), so each
    may hold Argo CD objects."""
    trees = set(kustomization_dirs)
    charts = {posixpath.dirname(p) or "." for p in git_.chart_files()
              if not skip(p)}
    charts |= {posixpath.dirname(p) or "." for p in changed
               if posixpath.basename(p) == "Chart.yaml" and not skip(p)}

    def above(directory: str) -> list[str]:
        out, parent = [directory], directory
        while parent not in ("", "."):
            parent = posixpath.dirname(parent) or "."
            out.append(parent)
        return out

    return sorted(c for c in charts
                  if not any(d in trees for d in above(c))
                  and not any(d in charts for d in above(c)[1:]))


def argocd_targets(repo: Path, changed: set[str], scope: Any, head: Any, base: Any,
                   git_: Any) -> list[str]:
    """The targets (kustomization dirs from `scope`, Helm charts, plain manifest files) that
    hold an Argo CD object or may: the targets a change to any such file (or to a splicing
    kustomization) would affect, the kustomization roots above one, and every chart a full
    check renders on its own."""
    from kustodian.prmode.scope import _affected, _is_global, _kustomizations

    # a repository-wide input naming the marker (a Rego test) is no Argo CD object
    skip = getattr(scope, "ignored_path", lambda _path: False)
    found, opaque = argocd_files(repo, changed, skip)
    files = [f for f in found if not _is_global(f)]
    dirs_, texts = _kustomizations(git_, head, git_.symlinks())
    inputs = [*files, *(f for f in opaque if not _is_global(f)
                        and posixpath.basename(f) != ".gitattributes"),
              *splicing_kustomizations(texts, head)]
    charts = chart_dirs(git_, changed, dirs_, skip)
    if not inputs and not charts:
        return []
    dirs: set[str] = {"."}
    for file in files:
        parent = posixpath.dirname(file)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    above = list(scope.among(dirs)) if files else []
    affected = _affected(scope, set(inputs), head, base, git_) if inputs else []
    return list(dict.fromkeys([*above, *affected, *charts]))
