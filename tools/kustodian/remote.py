"""Remote and outside content an overlay would render: refused before kustomize runs.

A `resources:` (or `components:`, `bases:`, plugin config...) entry naming an http(s) URL, a
git repository, `file://` or an OCI artifact is fetched by kustomize at check time: what
the gate saw can change after review, `file://` reads outside the repository, and a host
that never answers hangs the render. So every remote reference of an overlay's
kustomization graph is a finding (`remote-resource`) and the overlay is not rendered,
unless the repository config allows its host *and* the reference is immutable (a 40-hex
commit, an OCI `@sha256:` digest):

    remote_resources:
      allow: [github.com]                # hosts a remote reference may name

Local references that leave the repository (`../../..` past the root, or a symlink out
of it) are refused the same way. Renders themselves run offline (kustomize.build).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kustodian.kustomize.files import kustomization_file
from kustodian.kustomize.model import load

_SHA = re.compile(r"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$|@sha512:[0-9a-f]{128}$")
_MAX_DIRS = 10_000


@dataclass(frozen=True)
class RemoteRef:
    """A reference an overlay's render would fetch (or read from outside the repository)."""

    kfile: Path              # the kustomization naming it
    line: int | None
    field: str
    ref: str
    why: str                 # what is wrong with it
    allowed: bool = False    # allowed by the repository config (rendered online)


def host_of(ref: str) -> str:
    """The host a remote reference names ('' when it has none, e.g. file://)."""
    ref = ref.strip()
    if "://" in ref:
        return (urlsplit(ref).hostname or "").lower()
    if ref.startswith("git@"):
        return ref[4:].split(":", 1)[0].lower()
    return ref.split("/", 1)[0].lower()


def immutable(ref: str) -> bool:
    """Pinned to content: an OCI digest, or a full commit SHA as the ref/version/path."""
    ref = ref.strip()
    if ref.startswith("oci://"):
        return bool(_DIGEST.search(ref))
    query = urlsplit(ref).query if "://" in ref else ref.partition("?")[2]
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key in ("ref", "version") and _SHA.fullmatch(value):
            return True
    if ref.startswith(("http://", "https://")) and "?" not in ref:
        return any(_SHA.fullmatch(seg) for seg in urlsplit(ref).path.split("/"))
    return False


def _judge(ref: str, allow: frozenset[str]) -> tuple[str, bool]:
    host = host_of(ref)
    if ref.strip().startswith("file:"):
        return "reads a path outside the repository (file://)", False
    if host not in allow:
        return f"is fetched from {host or 'a remote location'} at render time", False
    if not immutable(ref):
        return (f"names allowed host {host} without an immutable ref (a 40-hex commit or an "
                "OCI sha256 digest)"), False
    return "", True


def scan(overlay: Path, root: Path, allow: frozenset[str] = frozenset(),
         cache: dict[str, tuple[list[RemoteRef], list[Path]]] | None = None
         ) -> list[RemoteRef]:
    """Every remote or outside reference of the kustomization graph below `overlay`
    (`cache`: per-dir results shared by the overlays of one run)."""
    cache = {} if cache is None else cache
    real_root = os.path.realpath(root)
    found: list[RemoteRef] = []
    seen: set[str] = set()
    stack = [Path(os.path.realpath(overlay))]
    while stack and len(seen) < _MAX_DIRS:
        directory = stack.pop()
        if str(directory) in seen:
            continue
        seen.add(str(directory))
        if str(directory) not in cache:
            cache[str(directory)] = _direct(directory, real_root, allow)
        refs, children = cache[str(directory)]
        found.extend(refs)
        stack.extend(children)
    return found


def _resolve(real_dir: str, ref: str) -> str:
    """os.path.realpath(real_dir/ref) for an already resolved `real_dir`: only the ref's own
    components are looked at (one lstat each), the first symlink hands over to realpath."""
    current = real_dir
    parts = [p for p in ref.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        if part == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            return os.path.realpath(os.path.join(candidate, *parts[i + 1:]))
        current = candidate
    return current


def _direct(directory: Path, real_root: str, allow: frozenset[str]
            ) -> tuple[list[RemoteRef], list[Path]]:
    """One kustomization's own remote/outside references, and the dirs it includes."""
    kfile = kustomization_file(directory)
    model = load(kfile) if kfile is not None else None
    if kfile is None or model is None:
        return [], []
    refs: list[RemoteRef] = []
    children: list[Path] = []
    for ref in model.references:
        if ref.remote:
            why, ok = _judge(ref.path, allow)
            refs.append(RemoteRef(kfile, model.line_of(ref), ref.field, ref.path, why, ok))
            continue
        target = _resolve(str(directory), ref.path)
        if target != real_root and not target.startswith(real_root + os.sep):
            refs.append(RemoteRef(kfile, model.line_of(ref), ref.field, ref.path,
                                  "leaves the repository"))
        elif ref.kind == "any" and os.path.isdir(target):
            children.append(Path(target))
    return refs, children
