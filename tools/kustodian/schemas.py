"""Strict schema validation of rendered Kubernetes resources (built-in kinds and CRDs).

The API (stable; `kustodian check` calls it once per rendered resource):

    validator = SchemaValidator()                 # pinned KUBERNETES_VERSION, .cache/crds
    issues = validator.validate(resource_dict)    # -> list[SchemaIssue], empty when valid
    issue.path     # "spec.template.spec.containers[0].image" ("" = the resource itself)
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
- Fast on thousands of resources: schema files are read once and one compiled validator is
  cached per apiVersion/kind for the validator's lifetime; reuse one instance.

Construction raises `KustodianError` (exit 2, with a hint) for an unsupported Kubernetes
version or a missing CRD schema cache.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from kustodian.errors import KustodianError

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = REPO_ROOT / "tools" / "setup" / "versions.env"
DEFAULT_CRD_DIR = REPO_ROOT / ".cache" / "crds"
_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class SchemaIssue:
    """One schema violation inside a resource."""

    path: str       # JSON path inside the resource, e.g. spec.template.spec.containers[0].image
    message: str

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


def format_path(parts: Iterable[Any]) -> str:
    """deque(['spec', 'containers', 0, 'image']) -> 'spec.containers[0].image'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _join(base: str, child: str) -> str:
    if not base:
        return child
    if not child:
        return base
    return base + child if child.startswith("[") else f"{base}.{child}"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:2])


class SchemaValidator:
    """Validates resource dicts strictly against pinned Kubernetes and CRD schemas."""

    def __init__(self, kubernetes_version: str | None = None,
                 crd_dir: Path | str | None = DEFAULT_CRD_DIR) -> None:
        self.kubernetes_version = (kubernetes_version or pinned_kubernetes_version()).lstrip("v")
        self._k8s_dir = self._schema_dir(self.kubernetes_version)
        self.schema_version = self._k8s_dir.name[1:].split("-")[0].rsplit(".", 1)[0]
        definitions = json.loads((self._k8s_dir / "_definitions.json").read_text())
        self._registry = Registry().with_resource(_DEFINITIONS_ID,
                                                  Resource.from_contents(definitions))
        self._defs = definitions["$defs"]
        self._meta_validator = self._compile(
            {"$schema": definitions["$schema"], "$id": "https://kubernetes.io/api/meta.json",
             "$ref": f"/api/_definitions.json#/$defs/{_OBJECT_META}"})
        self.crd_dir = Path(crd_dir) if crd_dir is not None else None
        self._crd_index = self._load_crd_index(self.crd_dir) if self.crd_dir else {}
        self._cache: dict[tuple[str, str], tuple[Draft202012Validator, bool] | None] = {}

    # --- public -------------------------------------------------------------------------
    def validate(self, resource: Any) -> list[SchemaIssue]:
        """All schema issues of one resource (a `kind: List` is validated item by item)."""
        return list(self._issues(resource, ""))

    def knows(self, api_version: str, kind: str) -> bool:
        """True when a schema exists for this apiVersion/kind."""
        return self._validator_for(api_version, kind) is not None

    @property
    def crd_kinds(self) -> list[str]:
        """The custom resource kinds available, as "group/version/Kind"."""
        return sorted(self._crd_index)

    # --- internals ----------------------------------------------------------------------
    def _issues(self, resource: Any, base: str) -> Iterable[SchemaIssue]:
        if not isinstance(resource, dict):
            yield SchemaIssue(base, f"expected a Kubernetes resource (a mapping), got "
                                    f"{type(resource).__name__}")
            return
        api_version, kind = resource.get("apiVersion"), resource.get("kind")
        missing = [name for name, value in (("apiVersion", api_version), ("kind", kind))
                   if not isinstance(value, str) or not value]
        if missing:
            for name in missing:
                yield SchemaIssue(_join(base, name), f"{name} is missing or not a string; "
                                  "every resource needs apiVersion and kind")
            return
        if kind == "List" and api_version == "v1":
            items = resource.get("items")
            if not isinstance(items, list):
                yield SchemaIssue(_join(base, "items"), "a List needs an `items` sequence")
                return
            for i, item in enumerate(items):
                yield from self._issues(item, _join(base, f"items[{i}]"))
            return
        entry = self._validator_for(api_version, kind)
        if entry is None:
            yield SchemaIssue(_join(base, "kind"), self._unknown_kind_message(api_version, kind))
            return
        validator, is_crd = entry
        yield from self._errors(validator, resource, base)
        if is_crd and isinstance(resource.get("metadata"), dict):
            yield from self._errors(self._meta_validator, resource["metadata"],
                                    _join(base, "metadata"))

    def _errors(self, validator: Draft202012Validator, instance: Any,
                base: str) -> Iterable[SchemaIssue]:
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
        for error in errors:
            path = _join(base, format_path(error.absolute_path))
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                allowed = error.schema.get("properties", {})
                patterns = error.schema.get("patternProperties", {})
                for key in error.instance:
                    if key not in allowed and not any(re.search(p, key) for p in patterns):
                        yield SchemaIssue(_join(path, str(key)),
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

    def _validator_for(self, api_version: str,
                       kind: str) -> tuple[Draft202012Validator, bool] | None:
        key = (api_version, kind)
        if key not in self._cache:
            self._cache[key] = self._load(api_version, kind)
        return self._cache[key]

    def _load(self, api_version: str, kind: str) -> tuple[Draft202012Validator, bool] | None:
        rel = self._crd_index.get(f"{api_version}/{kind}")
        if rel is not None and self.crd_dir is not None:
            schema = json.loads((self.crd_dir / rel).read_text(encoding="utf-8"))
            return self._compile(schema), True
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
        return self._compile(schema), False

    def _compile(self, schema: dict) -> Draft202012Validator:
        return Draft202012Validator(schema, registry=self._registry)

    @staticmethod
    def _schema_dir(version: str) -> Path:
        root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
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
