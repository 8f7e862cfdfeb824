"""A parsed kustomization file: its kind and every local path it names, with positions.

One reader of kustomization files for the whole gate: discovery (which dirs are roots), PR
mode (what a target reads), diagnosis (missing references) and release (which files to
edit) all ask this model. The source map walks the same files through `node` (line marks).

References follow kustomize's fields: resources/bases/components (a file or a kustomization
dir), patches (path and inline), patchesStrategicMerge, patchesJson6902, replacements,
generators/transformers/validators (files, dirs or inline configs), configurations, crds,
openapi, configMap/secretGenerator files and envs, helmCharts values and chart home. The
files a generator or transformer config names itself (a PatchTransformer's `path`, a
ConfigMapGenerator's `files`...) come from `plugin_references` on that config.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from kustodian.errors import KustodianError
from kustodian.yamlio import check_structure, read_bytes

MAX_BYTES = 1_000_000           # a kustomization file larger than this is not parsed here
PLUGIN_FIELDS = ("generators", "transformers", "validators")
RESOURCE_FIELDS = ("resources", "bases", "components", "generators", "configMapGenerator",
                   "secretGenerator", "helmCharts")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Reference:
    """One local or remote path a kustomization names.

    kind: "any" (a file or a kustomization dir: resources, components, plugin configs),
    "file", or "dir" (a dir read whole, e.g. a helm chart home)."""

    field: str
    path: str
    kind: str = "file"

    @property
    def remote(self) -> bool:
        return is_remote(self.path)


@dataclass
class Kustomization:
    """One kustomization file's data and text (the node tree is composed on demand)."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or "Kustomization")

    @property
    def is_component(self) -> bool:
        return self.data.get("kind") == "Component"

    @property
    def produces_resources(self) -> bool:
        """Whether a build of this kustomization alone can output anything: a field that
        brings resources in (a patch-only Component renders nothing on its own)."""
        return any(self.data.get(key) for key in RESOURCE_FIELDS)

    @cached_property
    def references(self) -> list[Reference]:
        return list(references(self.data))

    @cached_property
    def node(self) -> yaml.Node | None:
        """The document's node tree with line marks (scalars as written), or None."""
        try:
            check_structure(self.text, "kustomization")
            return yaml.compose(self.text, Loader=_Loader)
        except (yaml.YAMLError, KustodianError):
            return None

    def line_of(self, ref: Reference) -> int | None:
        """1-based line of a reference's scalar under its field (the first spelling it)."""
        if not isinstance(self.node, yaml.MappingNode):
            return None
        for key, value in self.node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == ref.field:
                return _line_of(value, ref.path)
        return None


def parse(raw: bytes | str | None) -> Kustomization | None:
    """The model of a kustomization file's content; None when empty, too large, not YAML or
    not a mapping (kustomize reports those when the target renders)."""
    if raw is None or len(raw) > MAX_BYTES:
        return None
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        check_structure(text, "kustomization")   # depth and aliases, before the C loader
        data = yaml.load(raw, Loader=_Loader)                      # a safe loader
    except (yaml.YAMLError, ValueError, KustodianError):
        return None
    return Kustomization(text, data) if isinstance(data, dict) else None


def load(kfile: Path) -> Kustomization | None:
    """`parse` of a file; None when unreadable or not a regular file (a symlink to
    /dev/zero must not be read without end)."""
    try:
        return parse(read_bytes(kfile, str(kfile), limit=MAX_BYTES))
    except KustodianError:
        return None


def is_remote(ref: str) -> bool:
    """A remote target (URL, git or registry reference) rather than a local path."""
    ref = ref.strip()
    if "://" in ref or ref.startswith(("git@", "github.com/", "gitlab.com/",
                                       "bitbucket.org/")):
        return True
    return "?" in ref and ("ref=" in ref or "version=" in ref)


def is_inline(text: str) -> bool:
    """An inline document (patch or plugin config) rather than a path."""
    return "\n" in text or text.lstrip().startswith(("{", "["))


def resolve(directory: str, ref: str) -> str | None:
    """`ref` as a repository-relative path from a kustomization in `directory`; None for
    remote references and paths leaving the repository."""
    ref = ref.strip()
    if not ref or is_remote(ref):
        return None
    path = posixpath.normpath(posixpath.join(directory, ref))
    if path == ".." or path.startswith("../") or posixpath.isabs(path):
        return None
    return path


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _dicts(value: object) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _generator_files(field_name: str, gen: dict) -> Iterator[Reference]:
    for spec in _strings(gen.get("files")):
        yield Reference(field_name, spec.split("=", 1)[1] if "=" in spec else spec)
    for env in (*_strings(gen.get("envs")), *_strings(gen.get("env"))):
        yield Reference(field_name, env)


def _helm(field_name: str, charts: list[dict], globals_: dict) -> Iterator[Reference]:
    yield Reference(field_name, str(globals_.get("chartHome") or "charts"), "dir")
    for chart in charts:
        for ref in (*_strings(chart.get("valuesFile")),
                    *_strings(chart.get("additionalValuesFiles"))):
            yield Reference(field_name, ref)


def references(data: dict) -> Iterator[Reference]:
    """Every path a kustomization file names, by the field that names it (remote ones too;
    inline patches and plugin configs are not paths and are left out)."""
    for key in ("resources", "bases", "components", *PLUGIN_FIELDS):
        for ref in _strings(data.get(key)):
            if not is_inline(ref):
                yield Reference(key, ref, "any")
    for key in ("patches", "patchesJson6902", "replacements"):
        for entry in data.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                yield Reference(key, entry["path"])
            elif isinstance(entry, str) and not is_inline(entry):
                yield Reference(key, entry)
    for ref in _strings(data.get("patchesStrategicMerge")):
        if not is_inline(ref):
            yield Reference("patchesStrategicMerge", ref)
    for key in ("configurations", "crds"):
        for ref in _strings(data.get(key)):
            yield Reference(key, ref)
    openapi = data.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield Reference("openapi", openapi["path"])
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in _dicts(data.get(key)):
            yield from _generator_files(key, gen)
    helm = data.get("helmCharts")
    if helm:
        globals_ = data.get("helmGlobals") if isinstance(data.get("helmGlobals"), dict) else {}
        yield from _helm("helmCharts", _dicts(helm), globals_)
    for key in PLUGIN_FIELDS:                      # inline plugin configs name files too
        for ref in _strings(data.get(key)):
            if is_inline(ref):
                for doc in _documents(ref):
                    yield from plugin_references(doc, key)


def plugin_references(config: object, field_name: str = "transformers") -> Iterator[Reference]:
    """The paths a generator/transformer/validator config names (relative to the
    kustomization that lists it): PatchTransformer / PatchJson6902Transformer `path`,
    PatchStrategicMergeTransformer `paths`, ConfigMap/SecretGenerator `files`/`envs`,
    ReplacementTransformer `replacements[].path`, HelmChartInflationGenerator values."""
    if not isinstance(config, dict):
        return
    if isinstance(config.get("path"), str):
        yield Reference(field_name, config["path"])
    for ref in _strings(config.get("paths")):
        if not is_inline(ref):
            yield Reference(field_name, ref)
    yield from _generator_files(field_name, config)
    for entry in _dicts(config.get("replacements")):
        if isinstance(entry.get("path"), str):
            yield Reference(field_name, entry["path"])
    if config.get("kind") == "HelmChartInflationGenerator":
        yield from _helm(field_name, [config], config)


def plugin_config_references(raw: bytes | None, field_name: str) -> list[Reference]:
    """`plugin_references` of every document of a plugin config file."""
    if raw is None or len(raw) > MAX_BYTES:
        return []
    return [ref for doc in _documents(raw) for ref in plugin_references(doc, field_name)]


def string_values(data: object) -> Iterator[str]:
    """Every string value in a kustomization's data, at any depth, and those of the YAML
    documents inline strings hold (inline plugin configs and patches); mapping keys are
    field names and left out. The render cache treats each one as a path kustomize may
    read, whatever field holds it."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
            if is_inline(value):
                stack.extend(_documents(value))
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _documents(raw: bytes | str) -> list[Any]:
    try:
        check_structure(raw.decode("utf-8", errors="replace") if isinstance(raw, bytes)
                        else raw, "plugin config")
        return list(yaml.load_all(raw, Loader=_Loader))
    except (yaml.YAMLError, ValueError, KustodianError):
        return []


def _line_of(root: yaml.Node | None, value: str) -> int | None:
    """The first scalar spelling `value` in a node tree (depth first, document order)."""
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.value == value:
                return node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, val in reversed(node.value):
                stack.extend((val, key))
    return None
