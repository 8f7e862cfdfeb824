"""Helpers of the deployment suite: overlay names, rendering with the real kustomize, and
accessors over rendered resources."""

from __future__ import annotations

from pathlib import Path

import yaml
from kustodian.kustomize.build import render
from kustodian.kustomize.cache import RenderCache

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

OVERLAYS = ("dev", "staging", "prod", "staging-canary", "prod-canary")
RENDERABLE = (*(f"overlays/{name}" for name in OVERLAYS), "argocd", "argocd/bootstrap")
ENV_NAMESPACE = {"dev": "agent-dev", "staging": "agent-staging", "prod": "agent-prod"}


def env_of(overlay: str) -> str:
    """overlays/prod-canary -> prod."""
    return overlay.rsplit("/", 1)[-1].removesuffix("-canary")


def kustomize_build(kustomize: str, path: Path) -> list[dict]:
    """Render a kustomization with the real kustomize CLI (`kustomize build <path>`, offline,
    as the gate runs it); fail with its error. Through the session's render cache
    (tests/conftest.py): the xdist workers and the gate runs on copies of this repository
    share one real build of each unchanged overlay."""
    result = render(path, str(path), kustomize, cache=RenderCache.for_tree(path))
    assert result.error is None, f"kustomize build {path} failed:\n{result.error}"
    # the C parser (libyaml) with PyYAML's safe constructors: safe_load_all's objects, ~9x
    # less CPU
    return [doc for doc in yaml.load_all(result.text, Loader=_SAFE_LOADER) if doc]


def by_kind(resources: list[dict], kind: str) -> dict[str, dict]:
    """{name: resource} of one kind."""
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def one(resources: list[dict], kind: str, name: str) -> dict:
    found = by_kind(resources, kind)
    assert name in found, f"no {kind}/{name} in the rendered output (have {sorted(found)})"
    return found[name]


POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


def pod_spec(resource: dict) -> dict:
    """The pod spec of any pod-bearing kind."""
    if resource["kind"] == "Pod":
        return resource["spec"]
    if resource["kind"] == "CronJob":
        return resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return resource["spec"]["template"]["spec"]


def all_containers(spec: dict) -> list[dict]:
    return [*spec.get("initContainers", []), *spec.get("containers", []),
            *spec.get("ephemeralContainers", [])]
