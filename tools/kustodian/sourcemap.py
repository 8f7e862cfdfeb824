"""Map a field of a rendered resource back to the repository file and line that set it.

kustomize keeps only the origin file of each resource (`buildMetadata: [originAnnotations]`);
which patch, component or `images:` entry changed a field is rendered away. We rebuild it:
the kustomization tree of the overlay is parsed (resources, components, patches, images,
replicas, namespace), every "setter" that can touch a resource is listed in kustomize's
application order, and a field is looked up from the last setter back to the origin file,
with line numbers from the YAML node tree. A missing field maps to its nearest declared
ancestor (the container, the pod spec...) in the origin file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kustodian.kustomize.files import kustomization_file
from kustodian.kustomize.model import is_remote
from kustodian.resources import CONTAINER_LISTS, Resource
from kustodian.yamlio import compose_document, compose_file, compose_text

MERGE_KEYS = ("name", "containerPort", "mountPath", "devicePath", "topologyKey", "ip", "port")


# --- YAML node navigation -----------------------------------------------------------------

def _scalar(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def map_get(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node, value node) of `key` in a mapping node."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if _scalar(k) == key:
                return k, v
    return None


def _match_item(seq: yaml.SequenceNode, index: int, rendered_item: Any,
                by_index: bool) -> yaml.Node | None:
    if rendered_item is not None and not isinstance(rendered_item, (dict, list)):
        wanted = str(rendered_item).lower() if isinstance(rendered_item, bool) else str(
            rendered_item)
        for item in seq.value:   # scalar lists (capabilities, args...): match by value
            if _scalar(item) == wanted:
                return item
    if isinstance(rendered_item, dict):
        for key in MERGE_KEYS:
            if key in rendered_item and not isinstance(rendered_item[key], (dict, list)):
                wanted = str(rendered_item[key])
                for item in seq.value:
                    found = map_get(item, key)
                    if found is not None and _scalar(found[1]) == wanted:
                        return item
                if not by_index:
                    return None
                break
    if by_index and 0 <= index < len(seq.value):
        return seq.value[index]
    return None


def find_line(node: yaml.Node | None, path: tuple, rendered: Any, *,
              by_index: bool = True) -> int | None:
    """1-based line of `path` inside `node` (a key's line for mapping entries)."""
    if node is None:
        return None
    line = node.start_mark.line
    cur, cur_r = node, rendered
    for seg in path:
        if isinstance(seg, int):
            if not isinstance(cur, yaml.SequenceNode):
                return None
            item_r = cur_r[seg] if isinstance(cur_r, list) and seg < len(cur_r) else None
            item = _match_item(cur, seg, item_r, by_index)
            if item is None:
                return None
            cur, cur_r, line = item, item_r, item.start_mark.line
        else:
            found = map_get(cur, seg)
            if found is None:
                return None
            key, cur = found
            cur_r = cur_r.get(seg) if isinstance(cur_r, dict) else None
            line = key.start_mark.line
    return line + 1


# --- setters: what can change a field after the origin file -------------------------------

@dataclass
class Setter:
    """One patch document, JSON6902 op list, images/replicas entry or namespace setting."""

    kind: str                      # smp | json6902 | image | replicas | namespace | annotations
    file: str
    node: yaml.Node | None = None  # patch document / op list / entry node
    line_offset: int = 0           # inline patches: line of the text inside the file
    target: dict[str, Any] | None = None
    scope: set[str] = field(default_factory=set)
    value: Any = None              # image/replicas entry data, namespace value

    def find(self, path: tuple, rendered: dict) -> int | None:
        if self.kind == "smp":
            line = find_line(self.node, path, rendered, by_index=False)
            return None if line is None else line + self.line_offset
        if self.kind == "json6902":
            return self._find_op(path, rendered)
        if self.kind == "replicas" and path == ("spec", "replicas"):
            found = map_get(self.node, "count")
            return (found[0] if found else self.node).start_mark.line + 1
        if self.kind == "namespace" and path == ("metadata", "namespace"):
            return self.node.start_mark.line + 1
        if self.kind == "annotations" and path[-3:-1] == ("metadata", "annotations"):
            found = map_get(self.node, str(path[-1]))
            return found[0].start_mark.line + 1 if found else None
        return None

    def _find_op(self, path: tuple, rendered: dict) -> int | None:
        if not isinstance(self.node, yaml.SequenceNode):
            return None
        for op in reversed(self.node.value):
            op_entry = map_get(op, "op")
            kind = _scalar(op_entry[1]) if op_entry else None
            raw = map_get(op, "path")
            if kind not in ("add", "replace", "copy", "move") or raw is None:
                continue
            op_path = parse_pointer(_scalar(raw[1]) or "", rendered)
            if op_path is None or tuple(path[: len(op_path)]) != op_path:
                continue
            value = map_get(op, "value")
            rest = tuple(path[len(op_path):])
            if not rest:
                anchor = value[0] if value else raw[0]
                return anchor.start_mark.line + 1 + self.line_offset
            if value is not None:
                sub = _get_path(rendered, op_path)
                line = find_line(value[1], rest, sub)
                if line is not None:
                    return line + self.line_offset
        return None


def parse_pointer(pointer: str, rendered: Any) -> tuple | None:
    """A JSON pointer as a path tuple; `-` becomes the last index of the rendered list."""
    if not pointer.startswith("/"):
        return None
    out: list[Any] = []
    cur = rendered
    for raw in pointer[1:].split("/"):
        seg = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, list):
            if seg == "-":
                idx: Any = len(cur) - 1
            elif seg.isdigit():
                idx = int(seg)
            else:
                return None
            out.append(idx)
            cur = cur[idx] if 0 <= idx < len(cur) else None
        else:
            out.append(seg)
            cur = cur.get(seg) if isinstance(cur, dict) else None
    return tuple(out)


def _get_path(obj: Any, path: tuple) -> Any:
    for seg in path:
        if isinstance(seg, int):
            obj = obj[seg] if isinstance(obj, list) and seg < len(obj) else None
        else:
            obj = obj.get(seg) if isinstance(obj, dict) else None
    return obj


def _node_data(node: yaml.Node | None) -> Any:
    if node is None:
        return None
    try:
        return yaml.SafeLoader("").construct_document(node)
    except yaml.YAMLError:
        return None


# --- the kustomization tree ---------------------------------------------------------------

@dataclass
class KustNode:
    """One kustomization or component directory."""

    directory: Path
    file: Path
    files: list[str] = field(default_factory=list)             # plain resource files
    children: list[KustNode] = field(default_factory=list)     # resource kustomizations
    components: list[KustNode] = field(default_factory=list)
    own: list[Setter] = field(default_factory=list)            # in application order
    generators: dict[str, int] = field(default_factory=dict)   # generated name -> line
    scope: set[str] = field(default_factory=set)
    prefix: str = ""                                           # namePrefix
    suffix: str = ""                                           # nameSuffix

    def ordered_setters(self) -> list[Setter]:
        out: list[Setter] = []
        for child in self.children:
            out.extend(child.ordered_setters())
        for comp in self.components:
            out.extend(comp.ordered_setters())
        out.extend(self.own)
        return out


class TreeBuilder:
    """Parses a kustomization directory and everything it includes (once per directory)."""

    def __init__(self) -> None:
        self._cache: dict[str, KustNode | None] = {}
        self._active: set[str] = set()

    def build(self, directory: Path) -> KustNode | None:
        key = os.path.realpath(directory)
        if key in self._cache:
            return self._cache[key]
        if key in self._active:
            return None  # a cycle: kustomize already refused it
        self._active.add(key)
        try:
            node = self._build(Path(key))
        finally:
            self._active.discard(key)
        self._cache[key] = node
        return node

    def _build(self, directory: Path) -> KustNode | None:
        kfile = kustomization_file(directory)
        if kfile is None:
            return None
        docs = compose_file(str(kfile))
        if not docs or not isinstance(docs[0], yaml.MappingNode):
            return None
        root = docs[0]
        node = KustNode(directory, kfile)
        for key, attr in (("namePrefix", "prefix"), ("nameSuffix", "suffix")):
            found = map_get(root, key)
            if found is not None and _scalar(found[1]):
                setattr(node, attr, _scalar(found[1]) or "")
        for key in ("resources", "bases"):
            for ref in self._str_items(root, key):
                self._add_resource(node, directory, ref)
        for ref in self._str_items(root, "components"):
            if not is_remote(ref):
                child = self.build(directory / ref)
                if child is not None:
                    node.components.append(child)
        self._generators(node, root)
        self._setters(node, root, directory)
        node.scope = set(node.files)
        for child in (*node.children, *node.components):
            node.scope |= child.scope
        for setter in self._all_own(node):
            setter.scope = node.scope
        return node

    @staticmethod
    def _all_own(node: KustNode) -> list[Setter]:
        out = list(node.own)
        for comp in node.components:   # a component's setters act on its parent's resources
            out.extend(TreeBuilder._all_own(comp))
        return out

    @staticmethod
    def _str_items(root: yaml.Node, key: str) -> list[str]:
        found = map_get(root, key)
        if found is None or not isinstance(found[1], yaml.SequenceNode):
            return []
        return [v for item in found[1].value if (v := _scalar(item))]

    def _add_resource(self, node: KustNode, directory: Path, ref: str) -> None:
        if is_remote(ref):
            return
        target = directory / ref
        if target.is_dir():
            child = self.build(target)
            if child is not None:
                node.children.append(child)
        else:
            node.files.append(os.path.realpath(target))

    @staticmethod
    def _generators(node: KustNode, root: yaml.Node) -> None:
        for key in ("configMapGenerator", "secretGenerator"):
            found = map_get(root, key)
            if found is None or not isinstance(found[1], yaml.SequenceNode):
                continue
            for item in found[1].value:
                name = map_get(item, "name")
                if name and _scalar(name[1]):
                    node.generators[_scalar(name[1]) or ""] = item.start_mark.line + 1

    def _setters(self, node: KustNode, root: yaml.Node, directory: Path) -> None:
        kfile = str(node.file)
        psm = map_get(root, "patchesStrategicMerge")
        if psm is not None and isinstance(psm[1], yaml.SequenceNode):
            for item in psm[1].value:
                node.own.extend(self._patch_from(kfile, directory, item, None, None))
        patches = map_get(root, "patches")
        if patches is not None and isinstance(patches[1], yaml.SequenceNode):
            for item in patches[1].value:
                target = _node_data((map_get(item, "target") or (None, None))[1])
                path = map_get(item, "path")
                inline = map_get(item, "patch")
                node.own.extend(self._patch_from(
                    kfile, directory, path[1] if path else None, inline[1] if inline else None,
                    target if isinstance(target, dict) else None))
        ns = map_get(root, "namespace")
        if ns is not None:
            node.own.append(Setter("namespace", kfile, ns[0]))
        common = map_get(root, "commonAnnotations")
        if common is not None and isinstance(common[1], yaml.MappingNode):
            node.own.append(Setter("annotations", kfile, common[1]))
        pj = map_get(root, "patchesJson6902")
        if pj is not None and isinstance(pj[1], yaml.SequenceNode):
            for item in pj[1].value:
                target = _node_data((map_get(item, "target") or (None, None))[1])
                path = map_get(item, "path")
                inline = map_get(item, "patch")
                node.own.extend(self._patch_from(
                    kfile, directory, path[1] if path else None, inline[1] if inline else None,
                    target if isinstance(target, dict) else {}))
        for key, kind in (("replicas", "replicas"), ("images", "image")):
            found = map_get(root, key)
            if found is None or not isinstance(found[1], yaml.SequenceNode):
                continue
            for item in found[1].value:
                data = _node_data(item)
                if isinstance(data, dict):
                    node.own.append(Setter(kind, kfile, item, value=data))

    def _patch_from(self, kfile: str, directory: Path, path_node: yaml.Node | None,
                    inline: yaml.Node | None, target: dict | None) -> list[Setter]:
        """Setters for one patch entry (a file path, or inline YAML/JSON text)."""
        docs: list[tuple[str, yaml.Node, int]] = []
        ref = _scalar(path_node) if path_node is not None else None
        if ref is not None and ("\n" in ref or ref.lstrip().startswith(("{", "["))):
            inline, ref = path_node, None   # patchesStrategicMerge inline string
        if ref:
            pfile = os.path.realpath(directory / ref)
            docs = [(pfile, d, 0) for d in compose_file(pfile)]
        elif inline is not None and isinstance(inline, yaml.ScalarNode):
            parsed = compose_text(inline.value)
            offset = inline.start_mark.line + (1 if inline.style in ("|", ">") else 0)
            if parsed is not None:
                docs = [(kfile, parsed, offset)]
        out = []
        for file, doc, offset in docs:
            if isinstance(doc, yaml.SequenceNode):
                out.append(Setter("json6902", file, doc, offset, target or {}))
            elif isinstance(doc, yaml.MappingNode):
                own_target = target
                if own_target is None:
                    data = _node_data(doc) or {}
                    meta = data.get("metadata") or {} if isinstance(data, dict) else {}
                    own_target = {"kind": data.get("kind"), "name": meta.get("name"),
                                  "namespace": meta.get("namespace")}
                out.append(Setter("smp", file, doc, offset, own_target))
        return out


# --- matching setters to a resource --------------------------------------------------------

def _regex_match(pattern: Any, values: list[str]) -> bool:
    if pattern in (None, ""):
        return True
    text = str(pattern)
    try:
        return any(re.fullmatch(text, v) for v in values)
    except re.error:
        return text in values


def _labels_match(selector: Any, labels: dict[str, str]) -> bool:
    if not selector:
        return True
    for part in str(selector).split(","):
        part = part.strip()
        if "!=" in part:
            k, v = (s.strip() for s in part.split("!=", 1))
            if labels.get(k) == v:
                return False
        elif "=" in part:
            k, v = (s.strip() for s in part.replace("==", "=").split("=", 1))
            if str(labels.get(k)) != v:
                return False
        elif part and part not in labels:
            return False
    return True


def target_matches(target: dict[str, Any] | None, resource: Resource, names: list[str]) -> bool:
    if not target:
        return True
    group, _, version = resource.api_version.rpartition("/")
    if target.get("kind") and not _regex_match(target["kind"], [resource.kind]):
        return False
    if target.get("group") is not None and not _regex_match(target["group"], [group]):
        return False
    if target.get("version") and not _regex_match(target["version"], [version]):
        return False
    if target.get("name") and not (_regex_match(target["name"], names)
                                   or _intermediate_name(str(target["name"]), names)):
        return False
    if target.get("namespace") and resource.namespace and not _regex_match(
            target["namespace"], [resource.namespace]):
        return False
    return _labels_match(target.get("labelSelector"), resource.labels) and _labels_match(
        target.get("annotationSelector"), resource.annotations)


def _intermediate_name(name: str, names: list[str]) -> bool:
    """A patch naming the resource as a middle layer saw it (a lower namePrefix applied)."""
    declared, rendered = (names[0], names[-1]) if names else ("", "")
    return bool(declared) and declared in name and name in rendered


def _image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last.rsplit(":", 1)[1]) - 1]
    return name


# --- the map --------------------------------------------------------------------------------

@dataclass
class Origin:
    """Where a rendered resource was declared."""

    file: str | None
    node: yaml.Node | None       # its document (or List item) node
    names: list[str]             # candidate names for patch targets (declared, rendered)
    generator_line: int | None = None


class SourceMap:
    """Locates fields of the resources rendered from one overlay (or read from plain files)."""

    def __init__(self, overlay_dir: Path | None = None, wrapper_dir: str | None = None,
                 builder: TreeBuilder | None = None,
                 fallback: Callable[[], tuple[str, dict[tuple, dict]]] | None = None) -> None:
        self.overlay_dir = overlay_dir
        self.wrapper_dir = wrapper_dir
        self._builder = builder or TreeBuilder()
        self._tree: KustNode | None | bool = False
        self._setters: dict[int, list[Setter]] = {}
        self._origins: dict[int, Origin] = {}
        self._fallback = fallback
        self._fallback_result: tuple[str, dict[tuple, dict]] | None = None
        self._expected: dict[tuple[str, str], list[tuple[str, str]]] | None = None

    def expected_names(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """(kind, rendered name) -> [(origin file, declared name)] for every resource file of
        the overlay's tree, with each level's namePrefix/nameSuffix applied."""
        if self._expected is None:
            out: dict[tuple[str, str], list[tuple[str, str]]] = {}
            if self.tree is not None:
                _collect_names(self.tree, "", "", out, set())
            self._expected = out
        return self._expected

    def _annotated_origin(self, r: Resource) -> tuple[str, dict] | None:
        """Origin from a second render with origin annotations (only when needed)."""
        if self._fallback is None:
            return None
        if self._fallback_result is None:
            self._fallback_result = self._fallback()
        wrapper, origins = self._fallback_result
        found = origins.get((r.kind, r.namespace, r.name))
        return (wrapper, found) if found else None

    @property
    def tree(self) -> KustNode | None:
        if self._tree is False:
            self._tree = self._builder.build(self.overlay_dir) if self.overlay_dir else None
        return self._tree  # type: ignore[return-value]

    def origin(self, r: Resource) -> Origin:
        key = id(r)
        if key not in self._origins:
            self._origins[key] = self._find_origin(r)
        return self._origins[key]

    def _find_origin(self, r: Resource) -> Origin:
        if r.file is not None:   # plain manifest input
            node = compose_document(r.file, r.doc_index)
            if r.item_index is not None:
                items = map_get(node, "items")
                node = (items[1].value[r.item_index] if items and isinstance(
                    items[1], yaml.SequenceNode) and r.item_index < len(items[1].value)
                    else node)
            return Origin(r.file, node, [r.name])
        origin = r.origin or {}
        base = self.wrapper_dir or (str(self.overlay_dir) if self.overlay_dir else os.getcwd())
        if not origin:
            hits = self.expected_names().get((r.kind, r.name), [])
            if len(hits) == 1:
                file, declared = hits[0]
                return Origin(file, _doc_named(compose_file(file), r.kind, declared),
                              [declared, r.name])
            annotated = self._annotated_origin(r)
            if annotated is not None:
                base, origin = annotated
        path = origin.get("path")
        if path and not origin.get("repo"):
            file = os.path.normpath(os.path.join(base, str(path)))
            node, declared = _find_doc(compose_file(file), r)
            return Origin(file, node, [n for n in (declared, r.name) if n])
        configured = origin.get("configuredIn")
        if configured:
            file = os.path.normpath(os.path.join(base, str(configured)))
            line = self._generator_line(file, r.name)
            return Origin(file, None, [r.name], line or 1)
        tree = self.tree
        return Origin(str(tree.file) if tree else None, None, [r.name], 1)

    def _generator_line(self, kfile: str, rendered_name: str) -> int | None:
        node = self._builder.build(Path(kfile).parent)
        if node is None:
            return None
        for name, line in node.generators.items():
            if rendered_name == name or rendered_name.startswith(name + "-") or name in (
                    rendered_name):
                return line
        return None

    def setters(self, r: Resource) -> list[Setter]:
        key = id(r)
        if key not in self._setters:
            tree, origin = self.tree, self.origin(r)
            found: list[Setter] = []
            if tree is not None and origin.file:
                real = os.path.realpath(origin.file)
                for s in tree.ordered_setters():
                    if real not in s.scope:
                        continue
                    if s.kind in ("smp", "json6902") and not target_matches(s.target, r,
                                                                             origin.names):
                        continue
                    if s.kind == "replicas" and not _regex_match(
                            (s.value or {}).get("name"), origin.names):
                        continue
                    found.append(s)
            self._setters[key] = found
        return self._setters[key]

    def locate(self, r: Resource, path: tuple) -> tuple[str | None, int | None]:
        """(absolute file, 1-based line) to change for `path` of resource `r`."""
        origin = self.origin(r)
        if origin.generator_line is not None:
            return origin.file, origin.generator_line
        setters = self.setters(r)
        if (len(path) >= 3 and path[-1] == "image" and path[-3] in CONTAINER_LISTS):
            hit = self._image_setter(r, path, origin, setters)
            if hit is not None:
                return hit
        for s in reversed(setters):
            line = s.find(path, r.obj)
            if line is not None:
                return s.file, line
        line = find_line(origin.node, path, r.obj)
        if line is not None:
            return origin.file, line
        for k in range(_missing_anchor(path), -1, -1):
            prefix = path[:k]
            line = find_line(origin.node, prefix, r.obj)
            if line is not None:
                return origin.file, line
            for s in reversed(setters):
                if s.kind in ("smp", "json6902"):
                    line = s.find(prefix, r.obj)
                    if line is not None:
                        return s.file, line
        return origin.file, None

    def declaration(self, r: Resource, path: tuple) -> tuple[str | None, int | None,
                                                            Setter | None]:
        """Where the field at `path` of `r` is set: (file, line, the setter that sets it, or
        None when it is the resource's own manifest)."""
        setters = self.setters(r)
        if self.origin(r).generator_line is not None and self.tree is not None:
            # generated objects: every commonAnnotations of the tree may reach them
            setters = [s for s in self.tree.ordered_setters() if s.kind == "annotations"]
        for s in reversed(setters):
            line = s.find(path, r.obj)
            if line is not None:
                return s.file, line, s
        file, line = self.locate(r, path)
        return file, line, None

    def _image_setter(self, r: Resource, path: tuple, origin: Origin,
                      setters: list[Setter]) -> tuple[str, int] | None:
        """The `images:` entry that last rewrote a container image, if any."""
        if not any(s.kind == "image" for s in setters):
            return None   # (plain manifests, overlays without `images:`)
        source_value = None
        start = 0
        for i in range(len(setters) - 1, -1, -1):
            s = setters[i]
            if s.kind in ("smp", "json6902") and s.find(path, r.obj) is not None:
                source_value = _node_data(_node_at(s.node, path, r.obj)) if s.kind == "smp" \
                    else None
                start = i + 1
                break
        if source_value is None and start == 0:
            source_value = _node_data(_node_at(origin.node, path, r.obj))
        if not isinstance(source_value, str):
            return None
        current = _image_name(source_value)
        winner: Setter | None = None
        for s in setters[start:]:
            if s.kind != "image":
                continue
            data = s.value or {}
            if str(data.get("name")) == current:
                winner = s
                current = str(data.get("newName") or current)
        if winner is None:
            return None
        for key in ("newTag", "digest", "newName"):
            found = map_get(winner.node, key)
            if found is not None:
                return winner.file, found[0].start_mark.line + 1
        return winner.file, winner.node.start_mark.line + 1


def _doc_identities(file: str) -> list[tuple[yaml.Node, str, str]]:
    """(node, kind, name) of every resource declared in a file (List items included)."""
    out: list[tuple[yaml.Node, str, str]] = []
    for doc in compose_file(file):
        kind = _kind_of(doc)
        if kind == "List":
            items = map_get(doc, "items")
            if items and isinstance(items[1], yaml.SequenceNode):
                out.extend((n, _kind_of(n) or "", name) for item in items[1].value
                           for n, name in _candidate(item))
            continue
        out.extend((n, kind or "", name) for n, name in _candidate(doc))
    return out


def _doc_named(docs: tuple, kind: str, name: str) -> yaml.Node | None:
    for doc in docs:
        if _kind_of(doc) == "List":
            items = map_get(doc, "items")
            seq = items[1].value if items and isinstance(items[1], yaml.SequenceNode) else []
            for item in seq:
                if _kind_of(item) == kind and _candidate(item)[0][1] == name:
                    return item
        elif _kind_of(doc) == kind and _candidate(doc)[0][1] == name:
            return doc
    return None


def _collect_names(node: KustNode, prefix: str, suffix: str,
                   out: dict[tuple[str, str], list[tuple[str, str]]], active: set[int]) -> None:
    if id(node) in active:
        return
    active.add(id(node))
    pre, suf = prefix + node.prefix, node.suffix + suffix
    for file in node.files:
        for _, kind, name in _doc_identities(file):
            if name:
                entry = out.setdefault((kind, pre + name + suf), [])
                if (file, name) not in entry:
                    entry.append((file, name))
    for child in node.children:
        _collect_names(child, pre, suf, out, active)
    for comp in node.components:   # a component's resources join its parent's
        _collect_names(comp, pre, suf, out, active)
    active.discard(id(node))


def _missing_anchor(path: tuple) -> int:
    """Length of the prefix a missing field maps to: its container when it is inside one
    (the line where the container is declared), else its nearest declared ancestor."""
    for i in range(1, len(path)):
        if path[i - 1] in CONTAINER_LISTS and isinstance(path[i], int):
            return min(i + 1, len(path) - 1)
    return len(path) - 1


def _node_at(node: yaml.Node | None, path: tuple, rendered: Any) -> yaml.Node | None:
    cur, cur_r = node, rendered
    for seg in path:
        if cur is None:
            return None
        if isinstance(seg, int):
            if not isinstance(cur, yaml.SequenceNode):
                return None
            item_r = cur_r[seg] if isinstance(cur_r, list) and seg < len(cur_r) else None
            cur, cur_r = _match_item(cur, seg, item_r, True), item_r
        else:
            found = map_get(cur, seg)
            cur = found[1] if found else None
            cur_r = cur_r.get(seg) if isinstance(cur_r, dict) else None
    return cur


def _find_doc(docs: tuple, r: Resource) -> tuple[yaml.Node | None, str | None]:
    """The document of `docs` declaring `r` (kind + declared name; prefixes tolerated)."""
    candidates: list[tuple[yaml.Node, str]] = []
    for doc in docs:
        kind = map_get(doc, "kind")
        if kind is None:
            continue
        kind_value = _scalar(kind[1])
        if kind_value == "List":
            items = map_get(doc, "items")
            if items and isinstance(items[1], yaml.SequenceNode):
                for item in items[1].value:
                    candidates.extend(_candidate(item))
            continue
        candidates.extend(_candidate(doc))
    same_kind = [(n, name) for n, name in candidates if _kind_of(n) == r.kind]
    for node, name in same_kind:
        if name == r.name:
            return node, name
    contained = [(n, name) for n, name in same_kind if name and name in r.name]
    if contained:
        return max(contained, key=lambda x: len(x[1]))
    if len(same_kind) == 1:
        return same_kind[0]
    return (same_kind[0] if same_kind else (docs[0] if docs else None, None))


def _kind_of(node: yaml.Node) -> str | None:
    kind = map_get(node, "kind")
    return _scalar(kind[1]) if kind else None


def _candidate(node: yaml.Node) -> list[tuple[yaml.Node, str]]:
    meta = map_get(node, "metadata")
    name = map_get(meta[1], "name") if meta else None
    return [(node, (_scalar(name[1]) or "") if name else "")]
