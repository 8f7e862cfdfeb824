"""Source-line mapping on a real kustomize tree: every finding points at the base resource,
the overlay patch, the component patch or the `images:`/`replicas:` entry that set the value;
a missing field points at the container that lacks it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.cli import kustodian, line_of, write_tree

POD = """
  template:
    metadata:
      labels: {app: APP}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile: {type: RuntimeDefault}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector: {matchLabels: {app: APP}}
      containers:
        - name: APP
          image: IMAGE
          ports:
            - name: http
              containerPort: 8080
              HOSTPORT
          livenessProbe: {httpGet: {path: /healthz, port: http}}
          READINESS
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {cpu: 200m, memory: 128Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
"""


def deployment(app: str, image: str, *, hostport: bool = False, readiness: bool = True) -> str:
    body = (POD.replace("APP", app).replace("IMAGE", image)
            .replace("HOSTPORT", "hostPort: 8080" if hostport else "")
            .replace("READINESS", "readinessProbe: {httpGet: {path: /readyz, port: http}}"
                     if readiness else ""))
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n"
            f"  replicas: 3\n  selector:\n    matchLabels: {{app: {app}}}\n" + body)


FILES = {
    "base/kustomization.yaml": """
        resources:
          - web.yaml
          - worker.yaml
          - policy.yaml
    """,
    "base/web.yaml": deployment("web", "ghcr.io/acme/web:1.0", readiness=False),
    "base/worker.yaml": deployment("worker", "ghcr.io/acme/worker", hostport=True),
    "base/policy.yaml": """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata:
          name: all
        spec:
          podSelector: {}
          policyTypes: [Ingress]
        ---
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata:
          name: web
        spec:
          maxUnavailable: 1
          selector: {matchLabels: {app: web}}
        ---
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata:
          name: worker
        spec:
          maxUnavailable: 1
          selector: {matchLabels: {app: worker}}
    """,
    "components/debug/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        patches:
          - path: root.yaml
    """,
    "components/debug/root.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: worker
        spec:
          template:
            spec:
              containers:
                - name: worker
                  securityContext:
                    runAsNonRoot: false
    """,
    "overlays/prod/kustomization.yaml": """
        namespace: shop-prod
        namePrefix: prod-
        resources:
          - ../../base
        components:
          - ../../components/debug
          - release
        patches:
          - path: patches/escalate.yaml
          - target:
              kind: Deployment
              name: worker
            patch: |-
              - op: replace
                path: /spec/replicas
                value: 1
        images:
          - name: ghcr.io/acme/web
            newTag: latest
    """,
    "overlays/prod/release/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        images:
          - name: ghcr.io/acme/worker
            newTag: "2.0"
    """,
    "overlays/prod/patches/escalate.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          template:
            spec:
              containers:
                - name: web
                  securityContext:
                    allowPrivilegeEscalation: true
                    capabilities:
                      add:
                        - NET_ADMIN
    """,
    "overlays/dev/kustomization.yaml": """
        resources:
          - ../../base
        replicas:
          - name: web
            count: 1
    """,
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mapping")
    (root / ".git").mkdir()
    (root / ".kustodian.yaml").write_text(
        "environments: {order: [dev, prod]}\noverlays:\n  overlays/prod: {env: prod}\n")
    return write_tree(root, FILES)


@pytest.fixture(scope="module")
def prod(repo) -> list[dict]:
    out = kustodian("check", "--no-conftest", "--format", "json", "overlays/prod", cwd=repo)
    assert out.returncode == 1, out.stderr
    return out.findings


def find(findings, rule, name):
    hits = [f for f in findings if f.get("rule") == rule and f.get("name") == name]
    assert hits, [(f["rule"], f["name"]) for f in findings]
    return hits[0]


def test_value_set_by_overlay_patch(repo, prod):
    f = find(prod, "no-privilege-escalation", "prod-web")
    assert (f["file"], f["line"]) == ("overlays/prod/patches/escalate.yaml",
                                      line_of(repo / "overlays/prod/patches/escalate.yaml",
                                              "allowPrivilegeEscalation: true"))
    assert (f["env"], f["kind"], f["namespace"], f["container"]) == (
        "prod", "Deployment", "shop-prod", "web")
    assert f["overlay"] == "overlays/prod"


def test_list_item_set_by_overlay_patch(repo, prod):
    f = find(prod, "no-added-capabilities", "prod-web")
    assert (f["file"], f["line"]) == ("overlays/prod/patches/escalate.yaml",
                                      line_of(repo / "overlays/prod/patches/escalate.yaml",
                                              "- NET_ADMIN"))


def test_value_set_by_component_patch(repo, prod):
    f = find(prod, "run-as-non-root", "prod-worker")
    assert (f["file"], f["line"]) == ("components/debug/root.yaml",
                                      line_of(repo / "components/debug/root.yaml",
                                              "runAsNonRoot: false"))


def test_value_from_base(repo, prod):
    f = find(prod, "no-host-ports", "prod-worker")
    assert (f["file"], f["line"]) == ("base/worker.yaml",
                                      line_of(repo / "base/worker.yaml", "hostPort: 8080"))


def test_missing_field_points_at_container(repo, prod):
    f = find(prod, "readiness-probe", "prod-web")
    assert (f["file"], f["line"]) == ("base/web.yaml", line_of(repo / "base/web.yaml",
                                                               "- name: web"))


def test_image_set_by_overlay_images_entry(repo, prod):
    f = find(prod, "image-tag-pinned", "prod-web")
    assert (f["file"], f["line"]) == ("overlays/prod/kustomization.yaml",
                                      line_of(repo / "overlays/prod/kustomization.yaml",
                                              "newTag: latest"))


def test_image_set_by_release_component(repo, prod):
    f = find(prod, "image-digest-pinned", "prod-worker")
    assert (f["file"], f["line"]) == ("overlays/prod/release/kustomization.yaml",
                                      line_of(repo / "overlays/prod/release/kustomization.yaml",
                                              'newTag: "2.0"'))


def test_value_set_by_inline_json6902_patch(repo, prod):
    f = find(prod, "min-replicas", "prod-worker")
    assert (f["file"], f["line"]) == ("overlays/prod/kustomization.yaml",
                                      line_of(repo / "overlays/prod/kustomization.yaml",
                                              "value: 1"))


def test_replicas_field_of_kustomization(repo):
    out = kustodian("check", "--no-conftest", "--format", "json", "--env", "prod",
                  "overlays/dev", cwd=repo)
    f = find(out.findings, "min-replicas", "web")
    assert (f["file"], f["line"]) == ("overlays/dev/kustomization.yaml",
                                      line_of(repo / "overlays/dev/kustomization.yaml",
                                              "count: 1"))


def test_user_files_are_not_modified(repo, prod):
    for rel, text in FILES.items():
        assert (repo / rel).read_text() == textwrap.dedent(text).lstrip("\n"), rel
    assert sorted(p.name for p in (repo / "overlays/prod").iterdir()) == [
        "kustomization.yaml", "patches", "release"]


def test_missing_field_in_existing_block_points_at_container(tmp_path):
    (tmp_path / ".git").mkdir()
    text = deployment("api", "ghcr.io/acme/api:1.0").replace(
        "            allowPrivilegeEscalation: false\n", "")
    (tmp_path / "api.yaml").write_text(text)
    out = kustodian("check", "--no-conftest", "--format", "json", "--env", "dev", "api.yaml",
                  cwd=tmp_path)
    f = find(out.findings, "no-privilege-escalation", "api")
    assert (f["file"], f["line"]) == ("api.yaml", line_of(tmp_path / "api.yaml", "- name: api"))
    assert f["field_path"] == (
        "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation")
