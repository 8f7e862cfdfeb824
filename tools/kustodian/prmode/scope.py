"""Which targets a change affects: the inputs of each kustomization (the Kustomization
layer's references, followed transitively), searched backwards from the changed paths.

See the package docstring for the rules; `reached_dirs` is the backward search,
`affected_overlays_forward` the simple forward one it must agree with.
"""

from __future__ import annotations

import bisect
import os
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kustodian.errors import KustodianError
from kustodian.git import Git, GitReader
from kustodian.kustomize import model
from kustodian.kustomize.files import NAMES, real_path
from kustodian.kustomize.model import resolve as _resolve
from kustodian.yamlio import read_bytes

GLOBAL_INPUTS = (".kustodian.yaml", "policies", "Dockerfile")
_MAX_KUSTOMIZATION_BYTES = model.MAX_BYTES


class OverlayScope(Protocol):
    """The overlays a full check covers at HEAD, asked about lazily.

    `tops`: the dirs the overlays are looked for under (a kustomization deleted under one of
    them was an overlay; "." is the whole repository). `all()`: every overlay, in check
    order. `among(dirs)`: the overlays among the given repository-relative dirs, in check
    order (what `all()` holds of them)."""

    tops: frozenset[str]

    def all(self) -> list[str]: ...

    def among(self, dirs: set[str]) -> list[str]: ...


class ListedOverlays:
    """An OverlayScope over an explicit list of overlay dirs."""

    def __init__(self, root: Path, overlays: list[str]) -> None:
        self.overlays = list(dict.fromkeys(_relative(root, o) for o in overlays))
        self.tops = frozenset(o.split("/", 1)[0] for o in self.overlays) - {"."}

    def all(self) -> list[str]:
        return list(self.overlays)

    def among(self, dirs: set[str]) -> list[str]:
        return [o for o in self.overlays if o in dirs]



class FsReader:
    """Files of the work tree (HEAD plus uncommitted changes). `links`: its symlinked dirs
    (link -> target, see Git.symlinks), for `real`."""

    def __init__(self, root: Path, links: dict[str, str] | None = None) -> None:
        self.root = root
        self.links = links or {}

    def real(self, directory: str) -> str:
        """The dir a kustomization's relative references resolve from: its real path."""
        return real_path(directory, self.links)

    def read(self, path: str) -> bytes | None:
        try:   # regular files inside the tree only, bounded
            return read_bytes(self.root / path, path, root=self.root)
        except KustodianError:
            return None

    def is_dir(self, path: str) -> bool:
        return (self.root / path).is_dir()

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()

    def is_file(self, path: str) -> bool:
        return (self.root / path).is_file()

    def kustomization(self, directory: str) -> str | None:
        for name in NAMES:
            candidate = posixpath.join(directory, name)
            if (self.root / candidate).is_file():
                return candidate
        return None



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
        files = {posixpath.join(directory, n) for n in NAMES}
        dirs: set[str] = set()
        kustomizations: set[str] = set()
        kfile = self.reader.kustomization(directory)
        parsed = model.parse(self.reader.read(kfile)) if kfile else None
        refs = list(parsed.references if parsed else ())
        base = _real(self.reader, directory)
        for ref in refs:
            path = _resolve(base, ref.path)
            if path is None:
                continue
            if ref.kind == "dir":
                dirs.add(path)
            elif ref.kind == "any" and self.reader.is_dir(path):
                kustomizations.add(path)
            else:
                files.add(path)
                if ref.field in model.PLUGIN_FIELDS and ref.kind == "any":   # a plugin config
                    refs.extend(model.plugin_config_references(self.reader.read(path),
                                                               ref.field))
        self._direct[directory] = (files, dirs, kustomizations)
        return self._direct[directory]


def _real(reader: FsReader | GitReader, directory: str) -> str:
    """The dir `directory`'s relative references resolve from: its real path (kustomize
    builds a kustomization dir reached through a symlink at its target), "" for the root."""
    real = reader.real(directory)
    return "" if real == "." else real


# --- which overlays a change affects ------------------------------------------------------


def _is_global(path: str) -> bool:
    return any(path == g or path.startswith(g + "/") for g in GLOBAL_INPUTS)


def _affected(scope: OverlayScope, changed: set[str], head: FsReader, base: GitReader,
              git: Git) -> list[str]:
    """The HEAD targets the change affects, then the ones it deleted, in check order, then
    the plain manifest files it changed (at HEAD or at the base)."""
    if not changed:
        return []
    links = git.symlinks()
    head.links = links
    changed = with_aliases(changed, links, head)
    deleted = deleted_overlays(scope.tops, changed, head, base)
    files = plain_files(scope, changed, head, base)
    if any(_is_global(path) for path in changed) or unplaceable(changed, head):
        return list(dict.fromkeys([*scope.all(), *deleted, *files]))
    dirs, texts = _kustomizations(git, head, links)
    reached = reached_dirs(changed, head, dirs, texts=texts)
    if isinstance(scope, ListedOverlays):
        roots = scope.among(reached)
    else:
        roots = scope.among(reached, included_dirs(reached, texts, head, scope))
    return list(dict.fromkeys([*roots, *(d for d in deleted if d in reached), *files]))


def _kustomizations(git: Git, head: FsReader, links: dict[str, str]
                    ) -> tuple[list[str], KustomizationTexts]:
    """The work tree's kustomization dirs (also as seen through symlinks) and their texts,
    read once per run (kept on `head`)."""
    cached = getattr(head, "_kustomizations", None)
    if cached is None:
        dirs = git.kustomization_dirs()
        known = git.indexed_kustomization_texts(dirs)
        dirs = sorted(with_aliases(set(dirs), links, head))   # seen through links too
        cached = (dirs, KustomizationTexts(head, dirs, known))
        head._kustomizations = cached
    return cached


def with_aliases(changed: set[str], links: dict[str, str], head: FsReader) -> set[str]:
    """The changed paths as seen through every symlink of the work tree too: a change to
    `real/x.yaml` is one to `link/x.yaml` when `link -> real`; a changed link to a dir is
    a change of the kustomization file it shows (a new symlinked target)."""
    result = set(changed)
    for _ in range(8):                                 # links through links, bounded
        added = set()
        for link, target in links.items():
            prefix = target + "/" if target else ""
            for path in result:
                if target and path == target:
                    added.add(link)
                elif path.startswith(prefix):
                    added.add(link + "/" + path[len(prefix):])
            if link in changed and head.is_dir(link):
                added |= {posixpath.join(link, n) for n in NAMES}
        if added <= result:
            break
        result |= added
    return result


def unplaceable(changed: set[str], head: FsReader) -> bool:
    """A changed path whose readers cannot be known: a kustomization file (or plugin
    config) that no longer parses, or a git attributes file (it changes what a checkout
    holds). Every target is affected then."""
    for path in changed:
        base = posixpath.basename(path)
        if base == ".gitattributes":
            return True
        if base in NAMES and head.kustomization(posixpath.dirname(path)) == path:
            raw = head.read(path)
            if raw and raw.strip() and model.parse(raw) is None:
                return True
    return False


def included_dirs(reached: set[str], texts: KustomizationTexts, head: FsReader,
                  scope: OverlayScope) -> set[str]:
    """The reached dirs another (not ignored) kustomization includes: checked through it,
    not on their own (the discovery rule)."""
    collector = InputCollector(head)
    ignored = getattr(scope, "ignored_dir", lambda _d: False)
    found: set[str] = set()
    for directory in texts.naming(reached, reached):
        if ignored(directory):
            continue
        found |= (collector.direct(directory)[2] & reached) - {directory}
    return found


def plain_files(scope: OverlayScope, changed: set[str], head: FsReader,
                base: GitReader) -> list[str]:
    """The changed paths that are plain manifest files a full check reads, at HEAD (the
    scope says) or at the base (outside every kustomization tree there)."""
    among = getattr(scope, "files_among", None)
    if among is None:
        return []
    at_head = among(changed)
    from kustodian.discover import MANIFEST_SUFFIXES

    at_base = []
    for path in sorted(changed - set(at_head)):
        if (not path.endswith(MANIFEST_SUFFIXES) or head.exists(path)
                or base.read(path) is None or scope.ignored_path(path)):
            continue
        parent, in_tree = posixpath.dirname(path), False
        while True:
            if base.kustomization(parent or "."):
                in_tree = True
                break
            if not parent:
                break
            parent = posixpath.dirname(parent)
        if not in_tree:
            at_base.append(path)
    return sorted({*at_head, *at_base})


def deleted_overlays(tops: Iterable[str], changed: set[str], head: FsReader,
                     base: GitReader) -> list[str]:
    """Overlays the change deleted: a kustomization (not a Component) present at the base,
    gone at HEAD, under one of `tops` (e.g. `overlays`) or listed as an overlay by the base
    revision's .kustodian.yaml. Its kustomization file is a changed path, so only those are
    looked at (the base config is read only when one lies outside `tops`)."""
    configured: set[str] | None = None
    result = []
    for directory in sorted({posixpath.dirname(p) for p in changed
                             if posixpath.basename(p) in NAMES}):
        if head.kustomization(directory):
            continue
        if not any(t == "." or directory == t or directory.startswith(t + "/") for t in tops):
            if configured is None:
                listed = _load_mapping(base.read(".kustodian.yaml")).get("overlays")
                configured = ({posixpath.normpath(str(o).rstrip("/")) for o in listed}
                              if isinstance(listed, dict) else set())
            if directory not in configured:
                continue
        kfile = base.kustomization(directory)
        parsed = model.parse(base.read(kfile)) if kfile else None
        if kfile and not (parsed is not None and parsed.is_component):
            result.append(directory)
    return result


def _load_mapping(raw: bytes | None) -> dict:
    """A YAML mapping file's data ({} when missing or not a mapping)."""
    parsed = model.parse(raw)
    return parsed.data if parsed is not None else {}


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
    """The overlays whose inputs (at HEAD, see the module docstring) include a changed path:
    `reached_dirs` when every kustomization dir is given, else the forward closure."""
    if not changed:
        return []
    if any(_is_global(path) for path in changed):
        return list(overlays)
    if kustomization_dirs is None:
        return affected_overlays_forward(overlays, changed, head)
    reached = reached_dirs(changed, head, kustomization_dirs)
    return [o for o in overlays if posixpath.normpath(o) in reached]


def reached_dirs(changed: set[str], head: FsReader, kustomization_dirs: Iterable[str],
                 known_texts: dict[str, str] | None = None, *,
                 texts: KustomizationTexts | None = None) -> set[str]:
    """The kustomization dirs whose inputs include a changed path, searched backwards.

    A one-file change in a monorepo reads every kustomization file once but parses only the
    few that can name a changed path: start from the kustomizations naming a changed file
    (or whose own kustomization file changed), then climb to the kustomizations naming
    those, and so on. A kustomization can only name a path through a string ending in that
    path's last component (or in `.`/`..`), which a text scan finds. `known_texts`: dir ->
    kustomization text already read (the rest is read from the work tree)."""
    collector = InputCollector(head)
    texts = texts or KustomizationTexts(head, kustomization_dirs, known_texts)
    reached = {posixpath.dirname(p) for p in changed if posixpath.basename(p) in
               NAMES}
    hit = with_parents(changed)
    for directory in texts.naming(hit, hit):
        files, dirs, _ = collector.direct(directory)
        if (files | dirs) & hit:
            reached.add(directory)
    frontier = set(reached)
    while frontier:
        nxt = set()
        for directory in texts.naming(frontier, frontier) - reached:
            if collector.direct(directory)[2] & frontier:
                nxt.add(directory)
        reached |= nxt
        frontier = nxt
    return reached


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


def _read_prefix(path: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of a file (os-level calls: thousands are read per run)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks, size = [], 0
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _kustomization_text(reader: FsReader, directory: str) -> str | None:
    base = os.path.join(reader.root, directory)
    for name in NAMES:
        raw = _read_prefix(os.path.join(base, name), _MAX_KUSTOMIZATION_BYTES)
        if raw is not None:
            return raw.decode("utf-8", errors="replace")
    return None


_DOTS = re.compile(r"\.\.?/?(?=[\s\"'\],#\0]|$)", re.MULTILINE)
_TOKEN = re.compile(r"[^\s\"'\[\],#=\0]+")
_DELIMITERS = " \t\r\n\"'[],#=\0"           # what ends a path-like token in YAML text
_TOKEN_START = _DELIMITERS + "/"
_SEPARATOR = "\0"                           # between two files in KustomizationTexts.text


_PLUGIN_FIELD = re.compile(r"^\s*[\"']?(?:generators|transformers|validators)[\"']?\s*:",
                           re.MULTILINE)


def _opaque(text: str) -> bool:
    """Whether a kustomization text may name a path a token scan cannot see."""
    return "\\" in text or "\ufffd" in text or "\0" in text or bool(
        _PLUGIN_FIELD.search(text))


def _has_dots_ref(text: str) -> bool:
    """Whether the text may hold a reference ending in `.` or `..` (e.g. `resources: [..]`)."""
    return any(m.start() == 0 or text[m.start() - 1] in _TOKEN_START
               for m in _DOTS.finditer(text))


def _token_ending_at(text: str, start: int, end: int) -> str:
    """The whole token (path-like word) that ends with text[start:end]."""
    while start > 0 and text[start - 1] not in _DELIMITERS:
        start -= 1
    return text[start:end]


def _lands_outside(directory: str, token: str, parents: set[str]) -> bool:
    """A cheap test that `token`, relative to `directory`, cannot resolve to a path under
    `parents` (a set closed under dirname): it climbs `../` to a dir, then only descends."""
    rest, base = token, directory
    while rest.startswith("../"):
        if not base:
            return False                  # leaves the repository: let _resolve decide
        rest, base = rest[3:], posixpath.dirname(base)
    if rest.startswith(("/", "..")) or "/.." in rest:
        return False                      # absolute or climbing midway: the full test
    return bool(base) and base not in parents


class KustomizationTexts:
    """Every kustomization file's text, read once and joined into one string (NUL between
    files), so each search step is one regex pass instead of one per file."""

    def __init__(self, reader: FsReader, directories: Iterable[str],
                 known: dict[str, str] | None = None) -> None:
        self.dirs: list[str] = []
        starts: list[int] = []
        parts: list[str] = []
        offset = 0
        known = known or {}
        for directory in directories:
            text = known.get(directory)
            if text is None:
                text = _kustomization_text(reader, directory)
            if text is None:
                continue
            self.dirs.append(directory)
            starts.append(offset)
            parts.append(text)
            offset += len(text) + 1
        self.starts = starts
        self.text = _SEPARATOR.join(parts)
        # dirs reached through a symlink resolve their references from the real path
        self.base = {d: _real(reader, d) for d in self.dirs} if getattr(
            reader, "links", None) else {}
        self.with_dots = [(d, parts[i]) for i, d in enumerate(self.dirs)
                          if _has_dots_ref(parts[i])]
        # texts a scan cannot judge, always parsed: escapes (`"dbg\\x2eyaml"`), undecodable
        # bytes, plugin configs (the files they name are not in this text)
        self.always = {d for i, d in enumerate(self.dirs) if _opaque(parts[i])}

    def _dir_at(self, position: int) -> str:
        return self.dirs[bisect.bisect_right(self.starts, position) - 1]

    def dir_at(self, position: int) -> str:
        """The dir whose kustomization text holds `position` of `text`."""
        return self._dir_at(position)

    def text_of(self, directory: str) -> str:
        """One dir's kustomization text (as read)."""
        index = self.dirs.index(directory)
        end = self.starts[index + 1] - 1 if index + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[index]:end]

    def naming(self, paths: Iterable[str], targets: set[str]) -> set[str]:
        """Kustomization dirs whose text holds a token that resolves, relative to the dir, to
        one of `targets`: a superset of the dirs naming them (the caller parses these few).
        A reference to a path ends with the path's last component, or with `.`/`..`."""
        names = {posixpath.basename(p.rstrip("/")) for p in paths} - {"", ".", ".."}
        found: set[str] = set()
        if names and self.dirs:
            alternatives = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
            endings = re.compile(r"(?:" + alternatives + r")/?(?=[\s\"'\],#\0]|$)",
                                 re.MULTILINE)
            parents = with_parents(targets)
            text = self.text
            for match in endings.finditer(text):
                start = match.start()
                if start and text[start - 1] not in _TOKEN_START:
                    continue              # e.g. `app-prod`: its last component is no name
                directory = self._dir_at(start)
                if directory in found:
                    continue
                token = _token_ending_at(text, start, match.end())
                token = token.rstrip("/") or token
                base = self.base.get(directory, directory)
                if _lands_outside(base, token, parents):
                    continue
                if _resolve(base, token) in targets:
                    found.add(directory)
        found |= self.always
        for directory, text in self.with_dots:
            base = self.base.get(directory, directory)
            if directory not in found and any(
                    _resolve(base, token.rstrip("/") or token) in targets
                    for token in _TOKEN.findall(text)):
                found.add(directory)
        return found


