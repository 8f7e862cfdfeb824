"""Every overlay and argocd/ renders with the real kustomize and passes strict schema
validation (pinned Kubernetes, pinned upstream CRDs); nothing unsafe is rendered."""

from __future__ import annotations

import json

import pytest
from deploy_helpers import ENV_NAMESPACE, OVERLAYS, RENDERABLE, env_of

CUSTOM_KINDS = {"HTTPRoute", "ExternalSecret", "ServiceMonitor", "PrometheusRule",
                "AppProject", "Application"}


@pytest.mark.parametrize("path", RENDERABLE)
def test_renders_and_is_schema_valid(path, render, validator):
    resources = render(path)
    assert resources, f"{path} rendered nothing"
    problems = [f"{r.get('kind')}/{r.get('metadata', {}).get('name')}: {issue}"
                for r in resources for issue in validator.validate(r)]
    assert problems == [], "\n".join(problems)


def test_custom_resources_are_checked_against_crd_schemas(render, validator):
    kinds = {r["kind"]: r["apiVersion"] for p in RENDERABLE for r in render(p)}
    assert set(kinds) >= CUSTOM_KINDS, f"expected every custom kind rendered, got {kinds}"
    for kind in CUSTOM_KINDS:
        assert f"{kinds[kind]}/{kind}" in validator.crd_kinds, f"{kind} has no CRD schema"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_env_namespace(overlay, render):
    namespace = ENV_NAMESPACE[env_of(overlay)]
    for r in render(f"overlays/{overlay}"):
        if r["kind"] == "Namespace":
            assert r["metadata"]["name"] == namespace
            assert r["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert r["metadata"].get("namespace") == namespace, (r["kind"], r["metadata"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_values_and_no_ingress_nginx(overlay, render):
    resources = render(f"overlays/{overlay}")
    secrets_in_git = [r for r in resources if r["kind"] == "Secret"]
    assert not secrets_in_git, "Secrets must come from ExternalSecret"
    assert not [r for r in resources if r["kind"] == "Ingress"], "routing is Gateway API only"
    text = json.dumps(resources)
    assert "nginx.ingress.kubernetes.io" not in text
    secrets = {r["metadata"]["name"] for r in resources if r["kind"] == "ExternalSecret"}
    assert {"agent-api-keys", "agent-llm", "redis-auth", "redis-backup-s3"} <= secrets


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sync_waves_order_namespace_config_redis_agent(overlay, render):
    waves = {(r["kind"], r["metadata"]["name"]):
             int(r["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))
             for r in render(f"overlays/{overlay}")}
    namespace = next(w for (kind, _), w in waves.items() if kind == "Namespace")
    config = [w for (kind, _), w in waves.items()
              if kind in ("ConfigMap", "ExternalSecret", "ServiceAccount", "NetworkPolicy")]
    redis = waves[("StatefulSet", "redis")]
    agent = waves[("Deployment", "agent")]
    assert namespace < min(config) and max(config) < redis < agent
