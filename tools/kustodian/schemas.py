"""Strict schema validation of rendered Kubernetes resources (built-in kinds and CRDs).

The API (stable; `kustodian check` calls it once per rendered resource):

    validator = SchemaValidator()                 # pinned KUBERNETES_VERSION, .cache/crds
    issues = validator.validate(resource_dict)    # -> list[SchemaIssue], empty when valid
    issue.parts    # ("spec", "template", "spec", "containers", 0, "image") (() = the resource)
    issue.path     # the same, formatted: "spec.template.spec.containers[0].image"
    issue.message  # what is wrong and, for unknown kinds, how to fix it

- Built-in kinds: the strict JSON Schemas shipped by kubernetes-validate for the pinned
  Kubernetes version (`KUBERNETES_VERSION` in tools/setup/versions.env); unknown fields are
  errors. The newest bundled schema not newer than the requested version is used
  (`validator.schema_version`).
- Custom resources: the JSON Schemas that tools/setup/fetch-crds.sh converts from the upstream
  CRDs at pinned versions (`.cache/crds/index.json`); unknown fields are errors except under
  `x-kubernetes-preserve-unknown-fields`. Their `metadata` is checked as a strict ObjectMeta.
- An unknown or removed apiVersion/kind, or a document that is not a resource, is an issue,
  never an exception. `kind: List` items are validated one by one (paths `items[3].spec...`).
- Validation is done by jsonschema-rs (a maintained Rust implementation of Draft 2020-12):
  each apiVersion/kind is compiled once, on first use, and answers "valid?" in a few dozen
  microseconds; only a resource it rejects is walked again for the issues and their paths.
  Formats are annotations, as in the Kubernetes API server's own OpenAPI checks.
- Compiling costs more than validating (Argo CD's Application schema ~17 ms, ApplicationSet
  ~90 ms, the definitions ~20 ms): schema files are parsed and compiled once per process
  (`_once`, keyed by each file's content), so a process that checks twice (PR mode's base and
  head, release's gate) compiles each of them once.

Construction raises `KustodianError` (exit 2, with a hint) for an unsupported Kubernetes
version or a missing CRD schema cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs

from kustodian.errors import KustodianError
from kustodian.model import FieldPath, format_path

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / "tools" / "setup" / "versions.env"
DEFAULT_CRD_DIR = REPO_ROOT / ".cache" / "crds"
_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class SchemaIssue:
    """One schema violation inside a resource."""

    parts: FieldPath   # where, e.g. ("spec", "template", "spec", "containers", 0, "image")
    message: str

    @property
    def path(self) -> str:
        """`parts` as people read it: spec.template.spec.containers[0].image."""
        return format_path(self.parts)

    def __str__(self) -> str:
        return f"{self.path or '<resource>'}: {self.message}"


def pinned_kubernetes_version(versions_file: Path = VERSIONS_FILE) -> str:
    """KUBERNETES_VERSION from tools/setup/versions.env."""
    try:
        text = versions_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise KustodianError(f"cannot read {versions_file}: {exc.strerror}",
                             hint="pass kubernetes_version explicitly") from None
    match = re.search(r"^KUBERNETES_VERSION=v?(\d+\.\d+)", text, re.MULTILINE)
    if not match:
        raise KustodianError("KUBERNETES_VERSION=<major>.<minor> is not set",
                             file=str(versions_file), hint="add e.g. KUBERNETES_VERSION=1.34")
    return match.group(1)


_COMPILED: dict[tuple, Any] = {}


def _once(path: Path, what: tuple, build: Callable[[bytes | None], Any]) -> Any:
    """`build(content of path)`, computed once per process for that content (and for `what`
    else the result depends on): a schema file that is replaced or edited is compiled again.
    `build(None)` when the file cannot be read (it then says why)."""
    try:
        data = path.read_bytes()
    except OSError:
        return build(None)
    key = (*what, hashlib.sha256(data).digest())
    if key not in _COMPILED:
        _COMPILED[key] = build(data)
    return _COMPILED[key]


def _compile(schema: dict, registry: jsonschema_rs.Registry, is_crd: bool) -> _Kind:
    """A kind's validator, its `$ref`s resolved against `registry` (the definitions)."""
    try:
        validator = jsonschema_rs.Draft202012Validator(schema, registry=registry,
                                                       validate_formats=False)
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        return _Kind(schema, None, is_crd, broken=str(exc).splitlines()[0])
    return _Kind(schema, validator, is_crd)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:2])


def _types_text(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    names.sort(key=lambda name: name == "null")          # "integer or null", not the reverse
    return " or ".join(repr(name) for name in names)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _message(error: jsonschema_rs.ValidationError) -> str:
    """One line saying what is wrong, worded like the JSON Schema keyword that failed."""
    kind = error.kind
    name = kind.name
    if name == "type":
        text = f"{_short(error.instance)} is not of type {_types_text(kind.types)}"
    elif name == "required":
        text = f"{kind.property!r} is a required property"
    elif name == "enum":
        text = f"{_short(error.instance)} is not one of {_short(kind.options)}"
    elif name in ("anyOf", "oneOf", "oneOfNotValid") and getattr(kind, "context", None):
        reasons = sorted({_message(sub) for branch in kind.context for sub in branch})
        text = "matches none of the allowed forms: " + "; ".join(reasons)
    else:
        text = error.message
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE - 3] + "..."
    return text


def _plain(value: Any) -> Any:
    """The same data with plain dict/list/str/int/float/bool (e.g. ruamel's HexInt -> int)."""
    if isinstance(value, dict):
        return {key if type(key) is str else str(key): _plain(item)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    for plain in (bool, str, int, float):
        if isinstance(value, plain):
            return plain(value)
    return value


@dataclass
class _Kind:
    """The compiled validator of one apiVersion/kind (or of ObjectMeta for CRDs)."""

    schema: dict
    validator: jsonschema_rs.Draft202012Validator | None    # None when `broken`
    is_crd: bool
    broken: str | None = None      # why the schema itself cannot be compiled


class SchemaValidator:
    """Validates resource dicts strictly against pinned Kubernetes and CRD schemas."""

    def __init__(self, kubernetes_version: str | None = None,
                 crd_dir: Path | str | None = DEFAULT_CRD_DIR) -> None:
        self.kubernetes_version = (kubernetes_version or pinned_kubernetes_version()).lstrip("v")
        self._k8s_dir = self._schema_dir(self.kubernetes_version)
        self.schema_version = self._k8s_dir.name[1:].split("-")[0].rsplit(".", 1)[0]
        definitions_file = self._k8s_dir / "_definitions.json"
        self._definitions, self._registry, self._meta = _once(
            definitions_file, ("definitions",), self._load_definitions)
        self._compiled_with = ("kind", id(self._registry))   # kinds compiled against it
        self.crd_dir = Path(crd_dir) if crd_dir is not None else None
        self._crd_index: dict[str, str] = {}
        if self.crd_dir is not None:
            index = self.crd_dir / "index.json"
            self._crd_index = _once(index, ("crd-index",),
                                    lambda data: self._crd_index_of(index, data))
        self._cache: dict[tuple[str, str], _Kind | None] = {}

    # --- public -------------------------------------------------------------------------
    def validate(self, resource: Any) -> list[SchemaIssue]:
        """All schema issues of one resource (a `kind: List` is validated item by item)."""
        return list(self._issues(resource, ()))

    def knows(self, api_version: str, kind: str) -> bool:
        """True when a schema exists for this apiVersion/kind."""
        return self._validator_for(api_version, kind) is not None

    @property
    def crd_kinds(self) -> list[str]:
        """The custom resource kinds available, as "group/version/Kind"."""
        return sorted(self._crd_index)

    # --- internals ----------------------------------------------------------------------
    def _issues(self, resource: Any, base: FieldPath) -> Iterable[SchemaIssue]:
        if not isinstance(resource, dict):
            yield SchemaIssue(base, f"expected a Kubernetes resource (a mapping), got "
                               f"{type(resource).__name__}")
            return
        api_version, kind = resource.get("apiVersion"), resource.get("kind")
        missing = [name for name, value in (("apiVersion", api_version), ("kind", kind))
                   if not isinstance(value, str) or not value]
        if missing:
            for name in missing:
                yield SchemaIssue((*base, name), f"{name} is missing or not a string; "
                                            "every resource needs apiVersion and kind")
            return
        if kind == "List" and api_version == "v1":
            items = resource.get("items")
            if not isinstance(items, list):
                yield SchemaIssue((*base, "items"), "a List needs an `items` sequence")
                return
            for i, item in enumerate(items):
                yield from self._issues(item, (*base, "items", i))
            return
        entry = self._validator_for(api_version, kind)
        if entry is None:
            yield SchemaIssue((*base, "kind"), self._unknown_kind_message(api_version, kind))
            return
        yield from self._checked(entry, resource, base)
        if entry.is_crd and isinstance(resource.get("metadata"), dict):
            yield from self._checked(self._meta, resource["metadata"], (*base, "metadata"))

    def _checked(self, entry: _Kind, instance: Any, base: FieldPath) -> Iterable[SchemaIssue]:
        if entry.broken is not None:
            yield SchemaIssue(base, f"cannot be validated against its schema: {entry.broken}")
            return
        try:
            errors = self._errors(entry.validator, instance)
        except ValueError:              # subclasses of JSON types (ruamel's round-trip nodes)
            try:
                errors = self._errors(entry.validator, _plain(instance))
            except (ValueError, RecursionError) as exc:   # not JSON data, or absurdly deep
                yield SchemaIssue(base, f"cannot be validated against its schema: {exc}")
                return
        except RecursionError as exc:
            yield SchemaIssue(base, f"cannot be validated against its schema: {exc}")
            return
        for error in errors:
            parts = (*base, *error.instance_path)
            if error.kind.name == "additionalProperties":
                for key in error.kind.unexpected:
                    yield SchemaIssue((*parts, key),
                                 f"unknown field {key!r} (strict mode: not in the schema)")
                continue
            yield SchemaIssue(parts, _message(error))

    @staticmethod
    def _errors(validator: jsonschema_rs.Draft202012Validator,
                instance: Any) -> list[jsonschema_rs.ValidationError]:
        if validator.is_valid(instance):
            return []
        return sorted(validator.iter_errors(instance),
                      key=lambda e: [str(part) for part in e.instance_path])

    def _unknown_kind_message(self, api_version: str, kind: str) -> str:
        same_kind = sorted({key.rsplit("/", 1)[0] for key in self._crd_index
                            if key.rsplit("/", 1)[1] == kind})
        hint = f" (known apiVersions for {kind}: {', '.join(same_kind)})" if same_kind else ""
        return (f"no schema for apiVersion {api_version!r} kind {kind!r} in Kubernetes "
                f"{self.schema_version} or the pinned CRDs{hint}; fix the apiVersion/kind, or "
                "add the CRD's module to tools/setup/fetch-crds.sh")

    def _validator_for(self, api_version: str, kind: str) -> _Kind | None:
        key = (api_version, kind)
        if key not in self._cache:
            self._cache[key] = self._load(api_version, kind)
        return self._cache[key]

    def _load_definitions(self, data: bytes | None
                          ) -> tuple[dict, jsonschema_rs.Registry, _Kind]:
        """The shared definitions, their registry and the ObjectMeta validator."""
        if data is None:
            raise KustodianError(f"cannot read {self._k8s_dir / '_definitions.json'}",
                                 hint="reinstall: `make setup`")
        definitions = json.loads(data)
        registry = jsonschema_rs.Registry([(_DEFINITIONS_ID, definitions)])
        meta = _compile({"$schema": definitions["$schema"],
                         "$id": "https://kubernetes.io/api/meta.json",
                         "$ref": f"/api/_definitions.json#/$defs/{_OBJECT_META}"},
                        registry, is_crd=False)
        return definitions, registry, meta

    def _load(self, api_version: str, kind: str) -> _Kind | None:
        rel = self._crd_index.get(f"{api_version}/{kind}")
        if rel is not None and self.crd_dir is not None:
            return _once(self.crd_dir / rel, self._compiled_with,
                         lambda data: self._crd_kind(rel, data))
        group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        if not re.fullmatch(r"[a-z0-9-]+", group_version) or not re.fullmatch(r"[A-Za-z0-9]+",
                                                                                kind):
            return None
        path = self._k8s_dir / f"{kind.lower()}-{group_version}.json"
        if not path.is_file():
            return None
        return _once(path, (*self._compiled_with, api_version, kind),
                     lambda data: self._builtin_kind(api_version, kind, data))

    def _builtin_kind(self, api_version: str, kind: str, data: bytes | None) -> _Kind | None:
        schema = json.loads(data) if data is not None else {}
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        if not any(g.get("kind") == kind and
                   (f"{g['group']}/{g['version']}" if g.get("group") else g.get("version"))
                   == api_version for g in gvks):
            return None          # a sub-type file (e.g. ServiceSpec) or another group's kind
        return _compile(schema, self._registry, is_crd=False)

    def _crd_kind(self, rel: str, data: bytes | None) -> _Kind:
        if data is None:
            raise KustodianError(f"cannot read the CRD schema {self.crd_dir / rel}",
                                 hint=f"rm -rf {self.crd_dir} && tools/setup/fetch-crds.sh")
        return _compile(json.loads(data), self._registry, is_crd=True)

    @staticmethod
    def _schema_dir(version: str) -> Path:
        # find_spec locates the package without importing it (its __init__ pulls jsonschema)
        spec = importlib.util.find_spec("kubernetes_validate")
        if spec is None or not spec.submodule_search_locations:
            raise KustodianError("the kubernetes-validate package is not installed",
                                 hint="run `make setup` (pip install -r tools/requirements.txt)")
        root = Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"
        strict_dirs = {entry.name: Path(str(entry)) for entry in root.iterdir()
                       if entry.name.endswith("-local-strict")}
        available = sorted(strict_dirs, key=_version_key)
        if not re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
            raise KustodianError(f"invalid Kubernetes version {version!r}",
                                 hint="use <major>.<minor>, e.g. 1.34")
        usable = [name for name in available if _version_key(name) <= _version_key(version)]
        if not usable or _version_key(version) > _version_key(available[-1]):
            supported = ", ".join(".".join(map(str, _version_key(n))) for n in available)
            raise KustodianError(
                f"Kubernetes {version} is not supported by the installed kubernetes-validate "
                f"(schemas for {supported})",
                hint="pin KUBERNETES_VERSION in tools/setup/versions.env to a supported "
                     "version, or upgrade kubernetes-validate in tools/requirements.txt")
        return strict_dirs[usable[-1]]

    @staticmethod
    def _crd_index_of(index: Path, raw: bytes | None) -> dict[str, str]:
        crd_dir = index.parent
        if raw is None:
            raise KustodianError(f"CRD schemas are missing: {index} cannot be read",
                                 hint="run `make setup` (tools/setup/fetch-crds.sh)")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise KustodianError(f"cannot read {index}: {exc}",
                                 hint="re-run tools/setup/fetch-crds.sh after "
                                      f"`rm -rf {crd_dir}`") from None
        if not isinstance(data, dict):
            raise KustodianError(f"{index} is not a JSON object",
                                 hint=f"rm -rf {crd_dir} && tools/setup/fetch-crds.sh")
        return {str(k): str(v) for k, v in data.items()}
