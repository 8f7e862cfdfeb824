"""The intended differences between environments, asserted from the rendered output, and the
layout contract (release/ holds only images; canary overlays hold the canary knobs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from deploy_helpers import OVERLAYS, all_containers, by_kind, one, pod_spec

DIGEST_REF = re.compile(r"^ghcr\.io/acme/[a-z0-9/._-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")


def images(resources):
    return [c["image"] for r in resources if r["kind"] in ("Deployment", "StatefulSet", "CronJob")
            for c in all_containers(pod_spec(r))]


def test_dev_single_replica_no_hpa_debug_logging(render):
    dev = render("overlays/dev")
    assert one(dev, "Deployment", "agent")["spec"]["replicas"] == 1
    assert by_kind(dev, "HorizontalPodAutoscaler") == {}
    pdb = one(dev, "PodDisruptionBudget", "agent")["spec"]
    assert pdb.get("maxUnavailable") == 1 and "minAvailable" not in pdb   # never blocks a drain
    config = next(r for r in dev if r["metadata"]["name"].startswith("agent-config-"))
    assert config["data"]["LOG_LEVEL"] == "DEBUG"
    limits = pod_spec(one(dev, "Deployment", "agent"))["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "384Mi"


@pytest.mark.parametrize(("overlay", "low", "high"), [("staging", 2, 4), ("prod", 3, 20)])
def test_hpa_bounds_and_pdb(overlay, low, high, render):
    resources = render(f"overlays/{overlay}")
    hpa = one(resources, "HorizontalPodAutoscaler", "agent")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (low, high)
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "agent"}
    assert {"scaleUp", "scaleDown"} <= set(hpa["behavior"])
    assert "replicas" not in one(resources, "Deployment", "agent")["spec"]   # the HPA owns it
    pdb = one(resources, "PodDisruptionBudget", "agent")["spec"]
    assert pdb["maxUnavailable"] < low          # a drain always finds a pod it may evict
    assert pdb["selector"]["matchLabels"] == {"app.kubernetes.io/name": "agent", "track": "stable"}


@pytest.mark.parametrize("overlay", ["prod", "prod-canary"])
def test_prod_pins_every_image_by_digest(overlay, render):
    refs = images(render(f"overlays/{overlay}"))
    assert refs and all(DIGEST_REF.match(ref) for ref in refs), refs


@pytest.mark.parametrize("overlay", ["dev", "staging"])
def test_lower_envs_use_tags_not_latest(overlay, render):
    for ref in images(render(f"overlays/{overlay}")):
        tag = ref.split("@")[0].rsplit(":", 1)
        assert len(tag) == 2 and tag[1] != "latest", ref


def test_prod_priority_class_and_hard_zone_spread(render):
    prod = render("overlays/prod")
    spec = pod_spec(one(prod, "Deployment", "agent"))
    assert spec["priorityClassName"] == "agent-critical"
    spread = {t["topologyKey"]: t["whenUnsatisfiable"] for t in spec["topologySpreadConstraints"]}
    assert spread == {"topology.kubernetes.io/zone": "DoNotSchedule",
                      "kubernetes.io/hostname": "ScheduleAnyway"}
    for overlay in ("dev", "staging"):
        assert "priorityClassName" not in pod_spec(one(render(f"overlays/{overlay}"),
                                                       "Deployment", "agent"))


def test_hostnames_per_env(render):
    hosts = {o: one(render(f"overlays/{o}"), "HTTPRoute", "agent")["spec"]["hostnames"]
             for o in ("dev", "staging", "prod")}
    assert hosts == {"dev": ["agent.dev.example.com"], "staging": ["agent.staging.example.com"],
                     "prod": ["agent.example.com"]}


def route_weights(resources) -> dict[str, int]:
    (rule,) = one(resources, "HTTPRoute", "agent")["spec"]["rules"]
    return {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}


@pytest.mark.parametrize(("overlay", "stable", "canary", "replicas"),
                         [("staging-canary", 90, 10, 1), ("prod-canary", 100, 0, 0)])
def test_canary_overlays(overlay, stable, canary, replicas, render, repo_root):
    resources = render(f"overlays/{overlay}")
    assert route_weights(resources) == {"agent": stable, "agent-canary": canary}
    assert stable + canary == 100
    assert one(resources, "Deployment", "agent-canary")["spec"]["replicas"] == replicas
    # The stable overlay alone routes everything to the stable Service.
    assert route_weights(render(f"overlays/{overlay.removesuffix('-canary')}")) == {"agent": 100}
    # Each weight sits on its own `value:` line of the overlay's one route patch.
    text = (repo_root / "overlays" / overlay / "kustomization.yaml").read_text()
    values = re.findall(r"^\s+value: (\d+)\s*$", text, re.MULTILINE)
    assert [int(v) for v in values] == [stable, canary]
    doc = yaml.safe_load(text)
    assert doc["images"] == [{"name": "agent-canary", "newName": "ghcr.io/acme/agent",
                              "newTag": doc["images"][0]["newTag"]}]
    assert doc["resources"] == [f"../{overlay.removesuffix('-canary')}"]
    assert doc["components"] == ["../../components/canary"]


@pytest.mark.parametrize("overlay", ["staging-canary", "prod-canary"])
def test_stable_and_canary_never_select_each_other(overlay, render):
    resources = render(f"overlays/{overlay}")
    deploys = by_kind(resources, "Deployment")
    services = by_kind(resources, "Service")
    for track, name in (("stable", "agent"), ("canary", "agent-canary")):
        selector = services[name]["spec"]["selector"]
        dep = name
        assert selector["track"] == track
        assert deploys[dep]["spec"]["selector"]["matchLabels"]["track"] == track
        assert deploys[dep]["spec"]["template"]["metadata"]["labels"]["track"] == track


@pytest.mark.parametrize("overlay", ["staging-canary", "prod-canary"])
def test_canary_pod_spec_matches_stable_except_image_and_track(overlay, render):
    resources = render(f"overlays/{overlay}")
    stable, canary = (one(resources, "Deployment", n) for n in ("agent", "agent-canary"))
    s_spec, c_spec = pod_spec(stable), pod_spec(canary)
    s_container, c_container = s_spec["containers"][0], c_spec["containers"][0]
    assert s_container["image"].startswith("ghcr.io/acme/agent")
    assert c_container["image"].startswith("ghcr.io/acme/agent")
    strip = lambda spec: {**spec, "containers": [{**c, "image": None} for c in spec["containers"]]}  # noqa: E731
    assert strip(c_spec) == strip(s_spec), "canary pod spec drifted from the stable one"
    s_labels = {**stable["spec"]["template"]["metadata"]["labels"], "track": "canary"}
    assert canary["spec"]["template"]["metadata"]["labels"] == s_labels


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_release_component_holds_only_images(env, repo_root: Path):
    release = repo_root / "overlays" / env / "release"
    doc = yaml.safe_load((release / "kustomization.yaml").read_text())
    assert doc["kind"] == "Component"
    assert set(doc) == {"apiVersion", "kind", "images"}
    assert [i["name"] for i in doc["images"]] == ["ghcr.io/acme/agent"]
    settings = yaml.safe_load((release / "settings.yaml").read_text())
    assert settings["kind"] == "ConfigMap" and settings["metadata"]["name"] == "agent-config"
    overlay = yaml.safe_load((repo_root / "overlays" / env / "kustomization.yaml").read_text())
    assert "release" in overlay["components"]
    assert {"path": "release/settings.yaml"} in overlay["patches"]
    assert "images" not in overlay


def test_promotable_settings_reach_the_rendered_config(render, repo_root):
    for env in ("dev", "staging", "prod"):
        settings = yaml.safe_load((repo_root / "overlays" / env / "release" / "settings.yaml")
                                  .read_text())["data"]
        config = next(r for r in render(f"overlays/{env}")
                      if r["metadata"]["name"].startswith("agent-config-"))
        assert settings.items() <= config["data"].items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pdbs_never_block_a_drain(overlay, render):
    resources = render(f"overlays/{overlay}")
    for pdb in by_kind(resources, "PodDisruptionBudget").values():
        spec = pdb["spec"]
        assert spec.get("maxUnavailable", 0) >= 1 and "minAvailable" not in spec
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
