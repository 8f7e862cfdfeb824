"""When kustomize fails, find the input file and line at fault with our own strict loader.

kustomize's YAML errors name a line but often not the file (`yaml: unmarshal errors: line 5:
mapping key "name" already defined`); every local file the overlay reads is loaded strictly
here and the first problem is reported as `file:line: cause`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import yaml

from kustodian.errors import KustodianError
from kustodian.sourcemap import KUSTOMIZATION_NAMES, TreeBuilder, kustomization_file, map_get
from kustodian.yamlio import load_documents, read_text


def _local_files(overlay: Path) -> list[Path]:
    """Kustomization files, resource files and patch files of the overlay's tree."""
    builder = TreeBuilder()
    tree = builder.build(overlay)
    out: list[Path] = []
    seen: set[int] = set()

    def walk(node) -> None:
        if node is None or id(node) in seen:
            return
        seen.add(id(node))
        out.append(node.file)
        out.extend(Path(f) for f in node.files)
        out.extend(Path(s.file) for s in node.own if s.kind in ("smp", "json6902"))
        for child in (*node.children, *node.components):
            walk(child)

    walk(tree)
    if tree is None:
        kfile = kustomization_file(overlay)
        if kfile is not None:
            out.append(kfile)
    return list(dict.fromkeys(p for p in out if p.is_file()))


def diagnose(overlay: Path, display: Callable[[Path], str]) -> KustodianError | None:
    """The first YAML problem in the files `overlay` reads, as a located error."""
    for path in _local_files(overlay):
        shown = display(path)
        try:
            docs = load_documents(read_text(path, shown), shown)
        except KustodianError as exc:
            return exc
        if path.name in KUSTOMIZATION_NAMES:
            problem = _missing_references(path, docs, shown)
            if problem is not None:
                return problem
    return None


def _missing_references(kfile: Path, docs: list, shown: str) -> KustodianError | None:
    """A `resources`/`components`/patch `path` entry naming a file that does not exist."""
    data = docs[0][1] if docs else None
    if not isinstance(data, dict):
        return None
    refs: list[str] = []
    for key in ("resources", "bases", "components"):
        items = data.get(key)
        if isinstance(items, list):
            refs.extend(i for i in items if isinstance(i, str))
    for patch in data.get("patches") or []:
        if isinstance(patch, dict) and isinstance(patch.get("path"), str):
            refs.append(patch["path"])
    for ref in refs:
        if "://" in ref or ref.startswith(("github.com/", "git@")):
            continue
        if not os.path.exists(kfile.parent / ref):
            line = _line_of(kfile, ref)
            return KustodianError(f"{ref!r} does not exist", file=shown, line=line,
                                  hint="fix the path (relative to this kustomization) or "
                                       "create the file")
    return None


def _line_of(kfile: Path, ref: str) -> int | None:
    try:
        root = yaml.compose(kfile.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return None
    for key in ("resources", "bases", "components", "patches"):
        found = map_get(root, key)
        if found is None or not isinstance(found[1], yaml.SequenceNode):
            continue
        for item in found[1].value:
            node = map_get(item, "path")[1] if isinstance(item, yaml.MappingNode) and map_get(
                item, "path") else item
            if isinstance(node, yaml.ScalarNode) and node.value == ref:
                return node.start_mark.line + 1
    return None
