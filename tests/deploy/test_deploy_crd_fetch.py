"""tools/setup/fetch-crds.sh and crd_to_jsonschema.py: pinned CRDs become strict JSON Schema;
the fetch is idempotent and fails clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kustodian.schemas import SchemaValidator

ROOT = Path(__file__).resolve().parents[2]
CONVERTER = ROOT / "tools" / "setup" / "crd_to_jsonschema.py"
FETCH = ROOT / "tools" / "setup" / "fetch-crds.sh"

CRD = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [widget.yaml]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer}
                note: {type: string, nullable: true}
                port:
                  x-kubernetes-int-or-string: true
                  anyOf: [{type: integer}, {type: string}]
                extra:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                  properties:
                    known: {type: string}
                op:
                  type: string
                  enum: [=, "!="]
    - name: v0
      served: false
      storage: false
      schema:
        openAPIV3Schema: {type: object}
"""


def convert(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    src = tmp_path / "crd.yaml"
    src.write_text(text)
    return subprocess.run([sys.executable, str(CONVERTER), str(tmp_path / "out"), str(src)],
                          capture_output=True, text=True, check=False)


def test_converter_writes_strict_schemas_that_the_validator_uses(tmp_path):
    result = convert(tmp_path, CRD)
    assert result.returncode == 0, result.stderr
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index == {"example.com/v1/Widget": "example.com/widget_v1.json"}   # v0 not served
    validator = SchemaValidator(crd_dir=tmp_path / "out")
    good = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 1, "note": None, "port": "http", "op": "=",
                     "extra": {"known": "k", "free": {"form": True}}}}
    assert validator.validate(good) == []
    bad = {**good, "spec": {"size": "big", "port": 1.5, "colour": "red", "op": "=="}}
    assert sorted(i.path for i in validator.validate(bad)) == [
        "spec.colour", "spec.op", "spec.port", "spec.size"]
    (issue,) = validator.validate({**good, "apiVersion": "example.com/v0"})
    assert issue.path == "kind"


def test_converter_errors_are_clear(tmp_path):
    result = convert(tmp_path, "apiVersion: v1\nkind: ConfigMap\n")
    assert result.returncode == 1 and "no CustomResourceDefinition" in result.stderr
    result = convert(tmp_path, "key: [unclosed\n")
    assert result.returncode != 0 and "cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_fetched_cache_holds_the_pinned_crds():
    index = json.loads((ROOT / ".cache" / "crds" / "index.json").read_text())
    for key in ("argoproj.io/v1alpha1/Application", "argoproj.io/v1alpha1/ApplicationSet",
                "argoproj.io/v1alpha1/AppProject", "gateway.networking.k8s.io/v1/HTTPRoute",
                "gateway.networking.k8s.io/v1/Gateway", "monitoring.coreos.com/v1/ServiceMonitor",
                "monitoring.coreos.com/v1/PrometheusRule", "external-secrets.io/v1/ExternalSecret"):
        assert key in index and (ROOT / ".cache" / "crds" / index[key]).is_file()
    pins = (ROOT / ".cache" / "crds" / ".pins").read_text()
    versions = (ROOT / "tools" / "setup" / "versions.env").read_text()
    for name in ("ARGOCD_VERSION", "GATEWAY_API_VERSION", "PROMETHEUS_OPERATOR_VERSION",
                 "EXTERNAL_SECRETS_VERSION"):
        pinned = next(line.split("=", 1)[1] for line in versions.splitlines()
                      if line.startswith(f"{name}="))
        assert f"@{pinned} " in pins


def test_fetch_is_idempotent():
    index = ROOT / ".cache" / "crds" / "index.json"
    before = (index.stat().st_mtime_ns, index.read_text())
    result = subprocess.run([str(FETCH)], capture_output=True, text=True, check=False,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert (index.stat().st_mtime_ns, index.read_text()) == before


@pytest.mark.slow
def test_fetch_failure_is_clear_and_leaves_nothing_behind(tmp_path):
    versions = (ROOT / "tools" / "setup" / "versions.env").read_text()
    bad = tmp_path / "versions.env"
    bad.write_text(versions + "GATEWAY_API_VERSION=v0.0.0-does-not-exist\n")
    out = tmp_path / "crds"
    result = subprocess.run([str(FETCH)], capture_output=True, text=True, check=False,
                            timeout=300, env={**os.environ, "FETCH_CRDS_VERSIONS": str(bad),
                                              "FETCH_CRDS_OUT": str(out)})
    assert result.returncode != 0
    assert "could not download sigs.k8s.io/gateway-api@v0.0.0-does-not-exist" in result.stderr
    assert "hint:" in result.stderr
    assert not out.exists()

