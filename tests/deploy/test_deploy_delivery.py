"""The blue-green overlays and the post-sync smoke hook as rendered by the real kustomize:
both colours run the stable pod spec of their env, the public Service / PDB / HPA follow the
active colour and the preview ones the idle colour, the smoke Job is a hardened PostSync hook
in every deployable overlay."""

from __future__ import annotations

import pytest
from deploy_helpers import OVERLAYS, by_kind, one, pod_spec

BLUEGREEN = ("staging-bluegreen", "prod-bluegreen")


def strip(spec: dict, colour: str | None = None) -> dict:
    """The pod spec without image, and without the colour in the spread selectors (each
    colour spreads its own pods: the colour label is part of every selector kustomize sees)."""
    spread = []
    for constraint in spec.get("topologySpreadConstraints", []):
        labels = dict(constraint["labelSelector"]["matchLabels"])
        assert labels.pop("color", None) == colour
        spread.append({**constraint, "labelSelector": {"matchLabels": labels}})
    return {**spec, "containers": [{**c, "image": None} for c in spec["containers"]],
            "topologySpreadConstraints": spread}


@pytest.mark.parametrize("overlay", BLUEGREEN)
def test_both_colours_run_the_stable_pod_spec(overlay, render):
    env = overlay.removesuffix("-bluegreen")
    stable = one(render(f"overlays/{env}"), "Deployment", "agent")
    resources = render(f"overlays/{overlay}")
    deployments = by_kind(resources, "Deployment")
    assert "agent" not in deployments
    for colour in ("blue", "green"):
        dep = deployments[f"agent-{colour}"]
        assert strip(pod_spec(dep), colour) == strip(pod_spec(stable)), f"{colour} drifted"
        labels = {**stable["spec"]["template"]["metadata"]["labels"], "color": colour}
        assert dep["spec"]["template"]["metadata"]["labels"] == labels
        assert dep["spec"]["selector"]["matchLabels"] == {
            **stable["spec"]["selector"]["matchLabels"], "color": colour}
        assert pod_spec(dep)["containers"][0]["image"].startswith("ghcr.io/acme/agent:")


@pytest.mark.parametrize("overlay", BLUEGREEN)
def test_public_follows_active_and_preview_follows_idle(overlay, render, repo_root):
    import yaml

    colours = yaml.safe_load((repo_root / "overlays" / overlay / "bluegreen.yaml").read_text())
    active, idle = colours["data"]["active"], colours["data"]["preview"]
    assert {active, idle} == {"blue", "green"}
    resources = render(f"overlays/{overlay}")
    assert one(resources, "Service", "agent")["spec"]["selector"]["color"] == active
    assert one(resources, "Service", "agent-preview")["spec"]["selector"]["color"] == idle
    pdbs = by_kind(resources, "PodDisruptionBudget")
    assert pdbs["agent"]["spec"]["selector"]["matchLabels"]["color"] == active
    assert pdbs["agent-preview"]["spec"]["selector"]["matchLabels"]["color"] == idle
    hpa = one(resources, "HorizontalPodAutoscaler", "agent")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"agent-{active}"
    for dep in by_kind(resources, "Deployment").values():
        if "color" in dep["metadata"]["labels"]:
            assert dep["metadata"]["annotations"]["kustodian.io/active-color"] == active
    public = one(resources, "HTTPRoute", "agent")["spec"]["parentRefs"]
    preview = one(resources, "HTTPRoute", "agent-preview")
    assert {p["name"] for p in preview["spec"]["parentRefs"]}.isdisjoint(
        {p["name"] for p in public})
    assert [b["name"] for r in preview["spec"]["rules"] for b in r["backendRefs"]] == \
        ["agent-preview"]
    assert not [r for r in resources if r["metadata"]["name"] == "agent-bluegreen"]


@pytest.mark.parametrize("overlay", [*OVERLAYS, *BLUEGREEN])
def test_every_overlay_has_the_post_sync_smoke_hook(overlay, render):
    resources = render(f"overlays/{overlay}")
    job = one(resources, "Job", "agent-smoke")
    notes = job["metadata"]["annotations"]
    assert notes["argocd.argoproj.io/hook"] == "PostSync"
    assert "HookSucceeded" in notes["argocd.argoproj.io/hook-delete-policy"]
    assert "BeforeHookCreation" in notes["argocd.argoproj.io/hook-delete-policy"]
    spec = pod_spec(job)
    (container,) = spec["containers"]
    assert container["command"] == ["python", "-m", "agent.smoke"]
    assert container["args"][:2] == ["--url", "http://agent"]
    assert container["image"].startswith("ghcr.io/acme/agent")
    assert spec["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"]
    service = one(resources, "Service", "agent")
    assert service["spec"]["ports"][0]["port"] == 80
    policies = by_kind(resources, "NetworkPolicy")
    ingress_from = [peer for rule in policies["agent"]["spec"]["ingress"] for peer in rule["from"]]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "agent-smoke"}}} \
        in ingress_from
    assert policies["agent-smoke"]["spec"]["podSelector"]["matchLabels"] == \
        {"app.kubernetes.io/name": "agent-smoke"}


def test_argocd_ignores_only_the_active_colours_replicas(render):
    """The Applications' jq expression (run by the real jq here; Argo CD runs gojq) selects
    .spec.replicas of the active colour (the HPA owns it) and nothing of the idle colour (git
    owns it: `bluegreen deploy` and `finish` must be applied) nor of canary Deployments."""
    import json
    import subprocess

    from support.processes import require_tool

    app = one(render("argocd"), "Application", "agent-prod")
    (expression,) = app["spec"]["ignoreDifferences"][1]["jqPathExpressions"]
    jq = require_tool("jq")

    def paths(obj: dict) -> list:
        proc = subprocess.run([jq, "-c", f"[path({expression})]"], input=json.dumps(obj),
                              capture_output=True, text=True, check=True, timeout=30)
        return json.loads(proc.stdout)

    deployments = by_kind(render("overlays/prod-bluegreen"), "Deployment")
    assert paths(deployments["agent-blue"]) == [["spec", "replicas"]]     # blue is active
    assert paths(deployments["agent-green"]) == []
    canary = by_kind(render("overlays/prod-canary"), "Deployment")
    assert paths(canary["agent-canary"]) == [] and paths(canary["agent"]) == []
