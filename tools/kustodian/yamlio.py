"""Safe YAML loading: size and alias-expansion limits, duplicate keys and positions in errors.

Two speeds: `load_documents` builds plain Python objects with the C parser (fast, used for
everything we evaluate); `compose_file` keeps the node tree with line marks and is only
called for the few files a finding has to point into (see `sourcemap`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from kustodian.errors import KustodianError

MAX_FILE_BYTES = 16 * 1024 * 1024       # one manifest file
MAX_RENDERED_BYTES = 256 * 1024 * 1024  # one rendered overlay (kustomize output)
MAX_EXPANDED_NODES = 1_000_000          # nodes after alias expansion (billion-laughs guard)
MAX_ALIASES = 10_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ANCHOR_HINT = re.compile(r"(?:^|[\s\[{,:-])&[^\s,\]}]")
_ALIAS_HINT = re.compile(r"(?:^|[\s\[{,:-])\*[^\s,\]}]")


_RESOLVED: dict[str, str] = {}


class _FastLoader(_Loader):  # type: ignore[misc, valid-type]
    """The C-accelerated safe loader with memoised implicit tag resolution (manifests repeat
    the same plain scalars thousands of times; the resolver's regexes run in Python)."""

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and implicit[0]:
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_RESOLVED) < 200_000:
                    _RESOLVED[value] = tag
            return tag
        return super().resolve(kind, value, implicit)


class _StrictLoader(_FastLoader):
    """The fast safe loader, refusing duplicate mapping keys."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "found an unhashable mapping key", key_node.start_mark) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    f"while constructing a mapping (first {key!r} on line {seen[key]})",
                    node.start_mark, f"found duplicate key {key!r}", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _StrictLoader.construct_yaml_map)


def _yaml_error(exc: yaml.YAMLError, file: str) -> KustodianError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    return KustodianError(text, file=file, line=line,
                          hint="fix the YAML syntax at that line (check indentation, quotes, "
                               "and that every key appears once per mapping)")


def check_size(text: str | bytes, file: str, limit: int = MAX_FILE_BYTES) -> None:
    """Refuse inputs larger than `limit` bytes."""
    if len(text) > limit:
        raise KustodianError(
            f"file is {len(text)} bytes, over the {limit}-byte limit for one YAML input",
            file=file, hint="split the file, or check that it is really a Kubernetes manifest")


def check_aliases(text: str, file: str) -> None:
    """Refuse alias bombs: count the nodes aliases would expand to, without expanding."""
    if "*" not in text or "&" not in text or not _ANCHOR_HINT.search(text) \
            or not _ALIAS_HINT.search(text):
        return
    sizes: dict[str, int] = {}
    stack: list[list] = []   # [anchor, node count]
    total = 0
    aliases = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise KustodianError(f"more than {MAX_ALIASES} YAML aliases", file=file,
                                         line=event.start_mark.line + 1,
                                         hint="expand the aliases; manifests rarely need them")
                count = sizes.get(event.anchor, 1)
            elif isinstance(event, yaml.ScalarEvent):
                count = 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                stack.append([event.anchor, 1])
                continue
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, count = stack.pop()
                if anchor:
                    sizes[anchor] = count
            else:
                continue
            total += count
            if stack:
                stack[-1][1] += count
            if total > MAX_EXPANDED_NODES:
                raise KustodianError(
                    f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes "
                    "(an alias bomb?)", file=file, line=event.start_mark.line + 1,
                    hint="remove the nested anchors/aliases")
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None


_NODES: dict[str, tuple[yaml.Node, ...]] = {}


def load_documents(text: str, file: str, *, strict: bool = True,
                   keep_nodes_as: str | None = None) -> list[tuple[int, Any]]:
    """All non-empty documents of `text` as (document index, object).

    `strict` refuses duplicate keys; rendered kustomize output skips that check (it cannot
    contain duplicates and is the hot path). `keep_nodes_as` keeps the node trees of this
    parse for `compose_file(keep_nodes_as)`, so positions never need a second parse.
    """
    check_size(text, file, MAX_FILE_BYTES if strict else MAX_RENDERED_BYTES)
    if strict:   # kustomize output never carries anchors or aliases
        check_aliases(text, file)
    loader_cls = _StrictLoader if strict else _FastLoader
    try:
        if keep_nodes_as is None:
            docs = list(yaml.load_all(text, Loader=loader_cls))
        else:   # one parse gives both the objects and the node tree (for positions later)
            loader = loader_cls(text)
            nodes: list[yaml.Node] = []
            docs = []
            try:
                while loader.check_node():
                    node = loader.get_node()
                    nodes.append(node)
                    docs.append(loader.construct_document(node))
            finally:
                loader.dispose()
            _NODES[keep_nodes_as] = tuple(nodes)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None
    except RecursionError:
        raise KustodianError("YAML nesting is too deep", file=file,
                             hint="flatten the document") from None
    return [(i, d) for i, d in enumerate(docs) if d is not None]


def read_text(path: Path, display: str) -> str:
    """Read a file as UTF-8 with a clear error when missing, unreadable or too large."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise KustodianError("file not found", file=display,
                             hint="check the path (it is relative to the current directory)"
                             ) from None
    except OSError as exc:
        raise KustodianError(f"cannot read file: {exc.strerror}", file=display) from None
    if size > MAX_FILE_BYTES:
        raise KustodianError(f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit",
                             file=display, hint="split the file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KustodianError(f"not UTF-8 text (byte {exc.start})", file=display,
                             hint="save the file as UTF-8") from None
    except OSError as exc:
        raise KustodianError(f"cannot read file: {exc.strerror}", file=display) from None


def compose_file(path: str) -> tuple[yaml.Node, ...]:
    """The node trees (with line marks) of every document of a file; () when unreadable."""
    kept = _NODES.get(path)
    return kept if kept is not None else _compose_file(path)


@lru_cache(maxsize=512)
def _compose_file(path: str) -> tuple[yaml.Node, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
        if len(text) > MAX_FILE_BYTES:
            return ()
        check_aliases(text, path)
        return tuple(n for n in yaml.compose_all(text, Loader=_FastLoader) if n is not None)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KustodianError, RecursionError):
        return ()


def compose_text(text: str) -> yaml.Node | None:
    """The node tree of one YAML string (an inline patch); None when it does not parse."""
    try:
        return yaml.compose(text, Loader=_FastLoader)
    except (yaml.YAMLError, RecursionError):
        return None
