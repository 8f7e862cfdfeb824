"""When kustomize fails, find the input file and line at fault with our own strict loader.

kustomize's YAML errors name a line but often not the file (`yaml: unmarshal errors: line 5:
mapping key "name" already defined`); every local file the overlay reads is loaded strictly
here and the first problem is reported as `file:line: cause`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.kustomize import model
from kustodian.kustomize.files import NAMES, kustomization_file
from kustodian.sourcemap import TreeBuilder
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


def diagnose(overlay: Path, display: Callable[[Path], str], root: Path | None = None
             ) -> KustodianError | None:
    """The first YAML problem in the files `overlay` reads, as a located error. With `root`,
    files outside it (a symlink out, `../..` past the root) are never opened, so their
    path and content never reach the report."""
    real_root = os.path.realpath(root) if root is not None else None
    for path in _local_files(overlay):
        if real_root is not None and not _inside(os.path.realpath(path), real_root):
            continue
        shown = display(path)
        try:
            load_documents(read_text(path, shown, root=root), shown)
        except KustodianError as exc:
            return exc
        if path.name in NAMES:
            problem = _missing_references(path, shown)
            if problem is not None:
                return problem
    return None


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root + os.sep)


def _missing_references(kfile: Path, shown: str) -> KustodianError | None:
    """A `resources`/`components`/patch `path` entry naming a file that does not exist."""
    parsed = model.load(kfile)
    if parsed is None:
        return None
    for ref in parsed.references:
        if ref.field not in ("resources", "bases", "components", "patches") or ref.remote:
            continue
        if not os.path.exists(kfile.parent / ref.path):
            return KustodianError(f"{ref.path!r} does not exist", file=shown,
                                  line=parsed.line_of(ref),
                                  hint="fix the path (relative to this kustomization) or "
                                       "create the file")
    return None
