"""The Kustomize layer's kustomization model: every reference by field, positions, kinds."""

from __future__ import annotations

from pathlib import Path

from kustodian.kustomize import files, model


def test_references_cover_every_field() -> None:
    text = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../base, deploy.yaml, https://github.com/x/y//z?ref=v1]
components: [../../components/debug]
patches:
  - path: "patches/dbg\\x2eyaml"
  - patch: |-
      - op: add
        path: /spec/x
        value: 1
patchesStrategicMerge: [psm.yaml]
patchesJson6902: [{path: json.yaml, target: {kind: Deployment, name: a}}]
replacements: [{path: repl.yaml}]
configurations: [conf.yaml]
crds: [crd.json]
openapi: {path: schema.json}
generators: [gen.yaml]
transformers:
  - tr.yaml
  - |-
    apiVersion: builtin
    kind: PatchTransformer
    metadata: {name: inline}
    path: patches/inline-target.yaml
validators: [val.yaml]
configMapGenerator: [{name: c, files: [key=cm/file.txt, cm/other.txt], envs: [cm/env.txt]}]
secretGenerator: [{name: s, env: sec/env.txt}]
helmCharts: [{name: c, valuesFile: values.yaml, additionalValuesFiles: [more.yaml]}]
"""
    parsed = model.parse(text)
    assert parsed is not None and not parsed.is_component
    got = {(r.field, r.path, r.kind) for r in parsed.references}
    expected = {
        ("resources", "../base", "any"), ("resources", "deploy.yaml", "any"),
        ("resources", "https://github.com/x/y//z?ref=v1", "any"),
        ("components", "../../components/debug", "any"),
        ("patches", "patches/dbg.yaml", "file"),            # the YAML escape is decoded
        ("patchesStrategicMerge", "psm.yaml", "file"),
        ("patchesJson6902", "json.yaml", "file"), ("replacements", "repl.yaml", "file"),
        ("configurations", "conf.yaml", "file"), ("crds", "crd.json", "file"),
        ("openapi", "schema.json", "file"), ("generators", "gen.yaml", "any"),
        ("transformers", "tr.yaml", "any"), ("validators", "val.yaml", "any"),
        ("transformers", "patches/inline-target.yaml", "file"),
        ("configMapGenerator", "cm/file.txt", "file"),
        ("configMapGenerator", "cm/other.txt", "file"),
        ("configMapGenerator", "cm/env.txt", "file"), ("secretGenerator", "sec/env.txt", "file"),
        ("helmCharts", "charts", "dir"), ("helmCharts", "values.yaml", "file"),
        ("helmCharts", "more.yaml", "file"),
    }
    assert got == expected
    remote = [r for r in parsed.references if r.remote]
    assert [r.path for r in remote] == ["https://github.com/x/y//z?ref=v1"]
    deploy = next(r for r in parsed.references if r.path == "deploy.yaml")
    assert parsed.line_of(deploy) == 3


def test_plugin_config_references() -> None:
    raw = b"""\
apiVersion: builtin
kind: PatchTransformer
metadata: {name: p}
path: patches/evil.yaml
---
apiVersion: builtin
kind: PatchStrategicMergeTransformer
metadata: {name: q}
paths: [patches/a.yaml]
---
apiVersion: builtin
kind: ConfigMapGenerator
metadata: {name: r}
files: [x=files/x.txt]
envs: [files/env]
"""
    refs = model.plugin_config_references(raw, "transformers")
    assert [r.path for r in refs] == ["patches/evil.yaml", "patches/a.yaml", "files/x.txt",
                                      "files/env"]


def test_kinds_and_bad_input() -> None:
    component = model.parse("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n")
    assert component is not None and component.is_component
    assert model.parse("- a list\n") is None
    assert model.parse("resources: [\n") is None
    assert model.parse(b"x" * (model.MAX_BYTES + 1)) is None
    assert model.resolve("overlays/dev", "../../base") == "base"
    assert model.resolve("overlays/dev", "../../../outside") is None
    assert model.resolve("a", "github.com/x/y?ref=v1") is None


def test_file_names(tmp_path: Path) -> None:
    assert files.kustomization_file(tmp_path) is None
    (tmp_path / "Kustomization").write_text("resources: []\n")
    assert files.kustomization_file(tmp_path) == tmp_path / "Kustomization"
    assert files.kustomization_name(str(tmp_path)) == "Kustomization"
    assert files.name_in(["a.yaml", "kustomization.yml"]) == "kustomization.yml"
    assert files.is_kustomization_path("overlays/dev/kustomization.yaml")
    assert not files.is_kustomization_path("overlays/dev/my-kustomization.yaml")


def test_kustomize_renders_in_an_environment_of_its_own(monkeypatch) -> None:
    """Offline and without the caller's configuration; only the operator's GOGC (garbage
    collector tuning, no effect on the output) passes through."""
    from kustodian.kustomize.build import offline_env

    monkeypatch.setenv("GOGC", "400")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("KUBECONFIG", "/home/me/.kube/config")
    env = offline_env()
    assert env["GOGC"] == "400" and env["PATH"] == "" and env["HOME"] == "/nonexistent"
    assert env["HTTPS_PROXY"] == "http://127.0.0.1:9" and "KUBECONFIG" not in env
    monkeypatch.delenv("GOGC")
    assert "GOGC" not in offline_env()
