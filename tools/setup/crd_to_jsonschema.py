"""Convert CustomResourceDefinition YAML files into strict JSON Schema files.

Usage: crd_to_jsonschema.py OUT_DIR CRD_FILE...

For every served version of every CRD it writes OUT_DIR/<group>/<kind>_<version>.json (kind in
lower case) and an OUT_DIR/index.json mapping "<group>/<version>/<Kind>" to that file. The
OpenAPI v3 schema becomes JSON Schema (draft 2020-12) the way the API server reads it:
`nullable` admits null, Go (RE2) patterns become Python ones, and every object that lists
`properties` rejects unknown fields unless it is marked `x-kubernetes-preserve-unknown-fields`
(the server would prune them; strict validation reports them). CEL rules
(`x-kubernetes-validations`) are not evaluated.
Documents that are not CRDs (kustomization files, admission policies) are skipped.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_NESTED_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_NESTED_LISTS = ("allOf", "anyOf", "oneOf")
_NESTED_ONE = ("items", "additionalProperties", "not")


def python_pattern(pattern: str) -> str | None:
    """The upstream (Go RE2) pattern as a Python regex; None when Python cannot express it.

    RE2 accepts inline flags anywhere (`^(?i)(a|b)$`); Python only at the very start."""
    candidates = [pattern]
    flags = re.findall(r"\(\?[aiLmsux]+\)", pattern)
    if flags:
        candidates.append("".join(flags) + re.sub(r"\(\?[aiLmsux]+\)", "", pattern))
    for candidate in candidates:
        try:
            re.compile(candidate)
        except re.error:
            continue
        return candidate
    return None


def strictify(node: Any) -> Any:
    """Return a copy of an OpenAPI v3 schema node as strict JSON Schema."""
    if isinstance(node, list):
        return [strictify(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _NESTED_MAPS and isinstance(value, dict):
            out[key] = {name: strictify(sub) for name, sub in value.items()}
        elif key in _NESTED_LISTS or key in _NESTED_ONE:
            out[key] = strictify(value)
        else:
            out[key] = value
    if isinstance(out.get("pattern"), str):
        converted = python_pattern(out["pattern"])
        if converted is None:       # keep it as an annotation rather than crash validation
            out["x-kubernetes-unchecked-pattern"] = out.pop("pattern")
        else:
            out["pattern"] = converted
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    open_object = out.get("x-kubernetes-preserve-unknown-fields") is True
    if (out.get("type") == "object" and "properties" in out and not open_object
            and "additionalProperties" not in out):
        out["additionalProperties"] = False
    return out


def resource_schema(group: str, version: str, kind: str, openapi: dict) -> dict:
    """The JSON Schema of one CR kind/version, pinning apiVersion and kind."""
    schema = strictify(openapi)
    schema["$schema"] = SCHEMA_DIALECT
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version}"]}
    props["kind"] = {"type": "string", "enum": [kind]}
    props.setdefault("metadata", {"type": "object"})
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
    return schema


def convert(out_dir: Path, crd_files: list[Path]) -> dict[str, str]:
    """Write the schema files; return the index (group/version/Kind -> relative path)."""
    yaml = YAML(typ="safe")
    # YAML 1.1 "value" key tag: upstream CRDs contain a bare `=` in enums; keep it a string.
    yaml.constructor.add_constructor("tag:yaml.org,2002:value",
                                     lambda loader, node: loader.construct_scalar(node))
    index: dict[str, str] = {}
    for path in crd_files:
        try:
            docs = list(yaml.load_all(path.read_text(encoding="utf-8")))
        except (OSError, YAMLError) as exc:
            raise SystemExit(f"crd_to_jsonschema: cannot read {path}: {exc}") from None
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc.get("spec") or {}
            group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
            for ver in spec.get("versions") or []:
                openapi = ((ver.get("schema") or {}).get("openAPIV3Schema"))
                if not (group and kind and ver.get("served") and isinstance(openapi, dict)):
                    continue
                rel = f"{group}/{kind.lower()}_{ver['name']}.json"
                target = out_dir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                schema = resource_schema(group, ver["name"], kind, openapi)
                target.write_text(json.dumps(schema, sort_keys=True), encoding="utf-8")
                index[f"{group}/{ver['name']}/{kind}"] = rel
    return index


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: crd_to_jsonschema.py OUT_DIR CRD_FILE...", file=sys.stderr)
        return 2
    out_dir = Path(argv[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    index = convert(out_dir, [Path(p) for p in argv[1:]])
    if not index:
        print("crd_to_jsonschema: no CustomResourceDefinition found in the given files",
              file=sys.stderr)
        return 1
    (out_dir / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n",
                                        encoding="utf-8")
    print(f"crd_to_jsonschema: {len(index)} schemas written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
