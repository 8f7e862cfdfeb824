"""Source mapping through layered name prefixes, label-selector targets, multi-document patch
files, generated ConfigMaps and `kustomization.yml`; env inferred from `production`."""

from __future__ import annotations

from support.cli import kustodian, line_of, write_tree
from test_mapping import deployment

FILES = {
    "base/kustomization.yml": """
        namePrefix: app-
        resources:
          - web.yaml
        configMapGenerator:
          - name: settings
            literals: [A=1]
    """,
    "base/web.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n"
                     "automountServiceAccountToken: false\n---\n"
                     + deployment("web", "ghcr.io/acme/web:1.0@sha256:" + "b" * 64),
    "production/kustomization.yaml": """
        namePrefix: prod-
        resources:
          - ../base
        patches:
          - path: patches.yaml
          - target:
              labelSelector: team=none
            patch: |-
              - op: add
                path: /metadata/labels/x
                value: y
          - target:
              kind: Deployment
            path: hostnet.yaml
    """,
    "production/patches.yaml": """
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: app-web
        automountServiceAccountToken: false
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: app-web
        spec:
          replicas: 1
    """,
    "production/hostnet.yaml": """
        - op: add
          path: /spec/template/spec/hostPID
          value: true
    """,
}


def test_layered_prefixes_and_patch_files(tmp_path):
    (tmp_path / ".git").mkdir()
    write_tree(tmp_path, FILES)
    out = kustodian("check", "--no-conftest", "--format", "json", "production", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    by_rule = {f["rule"]: f for f in out.findings}
    assert by_rule["min-replicas"]["env"] == "prod"
    assert by_rule["min-replicas"]["name"] == "prod-app-web"
    assert (by_rule["min-replicas"]["file"], by_rule["min-replicas"]["line"]) == (
        "production/patches.yaml", line_of(tmp_path / "production/patches.yaml", "replicas: 1"))
    host = by_rule["no-host-namespaces"]
    assert (host["file"], host["line"]) == (
        "production/hostnet.yaml", line_of(tmp_path / "production/hostnet.yaml", "value: true"))


def test_generated_secret_maps_to_its_generator_entry(tmp_path):
    (tmp_path / ".git").mkdir()
    write_tree(tmp_path, {
        "overlays/dev/kustomization.yaml": """
            namePrefix: dev-
            resources:
              - cm.yaml
            secretGenerator:
              - name: creds
                literals: [password=hunter2]
        """,
        "overlays/dev/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    })
    out = kustodian("check", "--no-conftest", "--format", "json", "overlays/dev", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    f = next(f for f in out.findings if f["rule"] == "no-plaintext-secrets")
    assert f["name"].startswith("dev-creds-")
    assert (f["file"], f["line"]) == ("overlays/dev/kustomization.yaml",
                                      line_of(tmp_path / "overlays/dev/kustomization.yaml",
                                              "- name: creds"))
