"""A hardened, complete app (Deployment, Service, PDB, NetworkPolicy, ServiceAccount) that
passes every rule in every env; rule tests break one thing at a time."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from kustodian.pipeline import CheckOptions, run_check

DIGEST = "sha256:" + "a" * 64
LABELS = {"app.kubernetes.io/name": "web", "track": "stable"}


def container(name: str = "web") -> dict:
    return {
        "name": name, "image": f"ghcr.io/acme/web:1.2.3@{DIGEST}",
        "ports": [{"name": "http", "containerPort": 8080}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": dict(LABELS)},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "serviceAccountName": "web",
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": dict(LABELS)}}],
                    "containers": [container()],
                },
            },
        },
    }


def app() -> list[dict]:
    """The complete passing set, deployment first."""
    return [
        deployment(),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"selector": dict(LABELS),
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
         "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(LABELS)}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
                  "policyTypes": ["Ingress"],
                  "ingress": [{"ports": [{"port": 8080}]}]}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "web", "namespace": "shop"}, "automountServiceAccountToken": False},
    ]


def pod_spec(docs: list[dict]) -> dict:
    return docs[0]["spec"]["template"]["spec"]


def first_container(docs: list[dict]) -> dict:
    return pod_spec(docs)["containers"][0]


def evaluate(tmp_path: Path, docs: list[dict], env: str | None = "prod",
             name: str = "manifests.yaml") -> list:
    """Findings of `kustodian check` (rules only) over the documents written to one file."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    (tmp_path / ".git").mkdir(exist_ok=True)
    report = run_check(tmp_path, [str(path)], CheckOptions(env=env, schema=False,
                                                           conftest=False))
    assert not report.errors, report.errors
    return report.findings


def rules_of(findings: list) -> set[str]:
    return {f.rule for f in findings}


def fresh() -> list[dict]:
    return copy.deepcopy(app())
