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
- Fast on thousands of resources: schema files are read once, and each apiVersion/kind is
  compiled once into a plain-Python checker (the JSON Schema keywords these schemas use) that
  answers "valid?" without jsonschema's per-node overhead; only a resource it rejects goes
  through jsonschema for the exact issues and paths. Schemas with other keywords use
  jsonschema alone. Reuse one instance.

Construction raises `KustodianError` (exit 2, with a hint) for an unsupported Kubernetes
version or a missing CRD schema cache.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kustodian.errors import KustodianError
from kustodian.model import FieldPath, format_path

if TYPE_CHECKING:   # jsonschema is imported on first use: most runs never need it
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

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


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:2])


Check = Callable[[Any], bool]
_ANNOTATIONS = {"description", "default", "example", "examples", "format", "title", "$schema",
                "$id", "$comment", "deprecated", "readOnly", "writeOnly", "nullable"}
_TYPES: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list,), "string": (str,),
                                       "boolean": (bool,), "null": (type(None),)}


class _Unsupported(Exception):
    """A schema uses a keyword the fast checker does not implement (jsonschema handles it)."""


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality as JSON Schema defines it (True is not 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    return a == b


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name not in _TYPES:
        raise _Unsupported(f"type {name}")
    return isinstance(value, _TYPES[name])


def _all(checks: list[Check]) -> Check:
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)
    return lambda value: all(check(value) for check in checks)


def _type_check(names: list[str]) -> Check:
    """isinstance-based check for JSON types (bool is never a number; 1.0 is an integer)."""
    for name in names:
        _is_type(None, name)                              # reject unknown type names early
    plain = tuple(t for name in names for t in _TYPES.get(name, ()))
    if "number" in names:
        return lambda value: isinstance(value, plain) or (
            isinstance(value, int | float) and not isinstance(value, bool))
    if "integer" in names:
        return lambda value: isinstance(value, plain) or (
            isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    return lambda value: isinstance(value, plain)


class _FastCompiler:
    """Compiles the JSON Schema subset of Kubernetes/CRD schemas into boolean checkers with
    the exact Draft 2020-12 semantics of those keywords (formats are annotations)."""

    def __init__(self, definitions: dict[str, Any]) -> None:
        self._defs = definitions
        self._refs: dict[str, Check] = {}
        self._compiling: set[str] = set()

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, dict):
            raise _Unsupported("schema is not an object")
        checks: list[Check] = []
        for key, arg in schema.items():
            if key in _ANNOTATIONS or key.startswith("x-") or key in (
                    "properties", "patternProperties", "additionalProperties", "required"):
                continue
            checks.append(self._keyword(key, arg))
        if {"properties", "patternProperties", "additionalProperties", "required"} & schema.keys():
            checks.append(self._object(schema))
        return _all(checks)

    def _keyword(self, key: str, arg: Any) -> Check:
        if key == "type":
            return _type_check([arg] if isinstance(arg, str) else list(arg))
        if key == "$ref":
            return self._ref(arg)
        if key == "enum":
            options = list(arg)
            return lambda value: any(_json_equal(value, o) for o in options)
        if key == "items":
            item = self.compile(arg)
            return lambda value: not isinstance(value, list) or all(map(item, value))
        if key in ("anyOf", "oneOf", "allOf"):
            subs = [self.compile(sub) for sub in arg]
            if key == "anyOf":
                return lambda value: any(sub(value) for sub in subs)
            if key == "allOf":
                return lambda value: all(sub(value) for sub in subs)
            return lambda value: sum(1 for sub in subs if sub(value)) == 1
        if key == "not":
            sub = self.compile(arg)
            return lambda value: not sub(value)
        if key == "pattern":
            try:
                regex = re.compile(arg)
            except re.error as exc:
                raise _Unsupported(f"pattern {arg!r}") from exc
            return lambda value: not isinstance(value, str) or regex.search(value) is not None
        bounds: dict[str, tuple[type | tuple[type, ...], Callable[[Any], Any], bool]] = {
            "minLength": (str, len, True), "maxLength": (str, len, False),
            "minItems": (list, len, True), "maxItems": (list, len, False),
            "minProperties": (dict, len, True), "maxProperties": (dict, len, False),
            "minimum": ((int, float), lambda v: v, True),
            "maximum": ((int, float), lambda v: v, False)}
        if key in bounds:
            kind, measure, is_min = bounds[key]

            def bound(value: Any) -> bool:
                if not isinstance(value, kind) or isinstance(value, bool):
                    return True
                return measure(value) >= arg if is_min else measure(value) <= arg
            return bound
        raise _Unsupported(key)

    def _object(self, schema: dict) -> Check:
        props = {name: self.compile(sub) for name, sub in schema.get("properties", {}).items()}
        patterns = [(re.compile(p), self.compile(sub))
                    for p, sub in schema.get("patternProperties", {}).items()]
        extra_schema = schema.get("additionalProperties", True)
        extra = None if extra_schema is True else self.compile(extra_schema)
        required = tuple(schema.get("required", ()))

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for name in required:
                if name not in value:
                    return False
            for name, item in value.items():
                sub = props.get(name)
                if sub is not None and not sub(item):
                    return False
                matched = False
                for regex, pattern_check in patterns:
                    if regex.search(name):
                        matched = True
                        if not pattern_check(item):
                            return False
                if sub is None and not matched and extra is not None and not extra(item):
                    return False
            return True
        return check

    def _ref(self, ref: str) -> Check:
        if ref in self._refs:
            return self._refs[ref]
        if ref in self._compiling:                      # a recursive definition: bind late
            return lambda value: self._refs[ref](value)
        match = re.fullmatch(r"(?:/api/_definitions\.json)?#/\$defs/(.+)", ref)
        if not match or match.group(1) not in self._defs:
            raise _Unsupported(f"$ref {ref}")
        self._compiling.add(ref)
        try:
            self._refs[ref] = self.compile(self._defs[match.group(1)])
        finally:
            self._compiling.discard(ref)
        return self._refs[ref]


@dataclass
class _Kind:
    """Everything cached for one apiVersion/kind; the jsonschema validator is built when a
    resource first needs exact issues (or when the fast checker cannot compile the schema)."""

    schema: dict
    fast: Check | None          # None: the schema needs jsonschema for every resource
    is_crd: bool
    registry: Callable[[], Any]
    _validator: Draft202012Validator | None = None

    @property
    def validator(self) -> Draft202012Validator:
        if self._validator is None:
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(self.schema, registry=self.registry())
        return self._validator


class SchemaValidator:
    """Validates resource dicts strictly against pinned Kubernetes and CRD schemas."""

    def __init__(self, kubernetes_version: str | None = None,
                 crd_dir: Path | str | None = DEFAULT_CRD_DIR) -> None:
        self.kubernetes_version = (kubernetes_version or pinned_kubernetes_version()).lstrip("v")
        self._k8s_dir = self._schema_dir(self.kubernetes_version)
        self.schema_version = self._k8s_dir.name[1:].split("-")[0].rsplit(".", 1)[0]
        definitions = json.loads((self._k8s_dir / "_definitions.json").read_text())
        self._definitions = definitions
        self._registry: Any = None
        self._fast = _FastCompiler(definitions["$defs"])
        self._meta = self._kind({"$schema": definitions["$schema"],
                                 "$id": "https://kubernetes.io/api/meta.json",
                                 "$ref": f"/api/_definitions.json#/$defs/{_OBJECT_META}"},
                                is_crd=False)
        self.crd_dir = Path(crd_dir) if crd_dir is not None else None
        self._crd_index = self._load_crd_index(self.crd_dir) if self.crd_dir else {}
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

    def _registry_of_definitions(self) -> Any:
        if self._registry is None:
            from referencing import Registry, Resource

            self._registry = Registry().with_resource(
                _DEFINITIONS_ID, Resource.from_contents(self._definitions))
        return self._registry

    def _checked(self, entry: _Kind, instance: Any, base: FieldPath) -> Iterable[SchemaIssue]:
        try:
            if entry.fast is not None and entry.fast(instance):
                return
        except (re.error, RecursionError) as exc:
            yield SchemaIssue(base, f"cannot be validated against its schema: {exc}")
            return
        from referencing.exceptions import Unresolvable

        try:
            issues = list(self._errors(entry.validator, instance, base))
        except (re.error, Unresolvable, RecursionError) as exc:
            issues = [SchemaIssue(base, f"cannot be validated against its schema: {exc}")]
        yield from issues

    def _errors(self, validator: Draft202012Validator, instance: Any,
                base: FieldPath) -> Iterable[SchemaIssue]:
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
        for error in errors:
            path = (*base, *error.absolute_path)
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                allowed = error.schema.get("properties", {})
                patterns = error.schema.get("patternProperties", {})
                for key in error.instance:
                    if key not in allowed and not any(re.search(p, key) for p in patterns):
                        yield SchemaIssue((*path, str(key)),
                                          f"unknown field {key!r} (strict mode: not in the schema)")
                continue
            yield SchemaIssue(path, self._message(error))

    @staticmethod
    def _message(error: ValidationError) -> str:
        if error.validator in ("oneOf", "anyOf") and error.context:
            reasons = sorted({sub.message for sub in error.context})
            text = "matches none of the allowed forms: " + "; ".join(reasons)
        else:
            text = error.message
        if len(text) > _MAX_MESSAGE:
            text = text[:_MAX_MESSAGE - 3] + "..."
        return text

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

    def _load(self, api_version: str, kind: str) -> _Kind | None:
        rel = self._crd_index.get(f"{api_version}/{kind}")
        if rel is not None and self.crd_dir is not None:
            schema = json.loads((self.crd_dir / rel).read_text(encoding="utf-8"))
            return self._kind(schema, is_crd=True)
        group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        if not re.fullmatch(r"[a-z0-9-]+", group_version) or not re.fullmatch(r"[A-Za-z0-9]+",
                                                                                kind):
            return None
        path = self._k8s_dir / f"{kind.lower()}-{group_version}.json"
        if not path.is_file():
            return None
        schema = json.loads(path.read_text(encoding="utf-8"))
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        if not any(g.get("kind") == kind and
                   (f"{g['group']}/{g['version']}" if g.get("group") else g.get("version"))
                   == api_version for g in gvks):
            return None          # a sub-type file (e.g. ServiceSpec) or another group's kind
        return self._kind(schema, is_crd=False)

    def _kind(self, schema: dict, is_crd: bool) -> _Kind:
        try:
            fast: Check | None = self._fast.compile(schema)
        except _Unsupported:
            fast = None
        return _Kind(schema, fast, is_crd, self._registry_of_definitions)

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
    def _load_crd_index(crd_dir: Path) -> dict[str, str]:
        index = crd_dir / "index.json"
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KustodianError(f"CRD schemas are missing: {index} does not exist",
                                 hint="run `make setup` (tools/setup/fetch-crds.sh)") from None
        except (OSError, ValueError) as exc:
            raise KustodianError(f"cannot read {index}: {exc}",
                                 hint="re-run tools/setup/fetch-crds.sh after "
                                      f"`rm -rf {crd_dir}`") from None
        if not isinstance(data, dict):
            raise KustodianError(f"{index} is not a JSON object",
                                 hint=f"rm -rf {crd_dir} && tools/setup/fetch-crds.sh")
        return {str(k): str(v) for k, v in data.items()}
