"""The blue-green rules over hand-built manifests: one public Service on exactly one colour,
that colour running, PDB and HPA on it, the preview route off the public Gateway in prod.
(The same rules on the real overlays: tests/release/test_release_bluegreen.py.)"""

from __future__ import annotations

import copy

import pytest
from manifests import LABELS, evaluate, fresh

ROLE = "kustodian.io/bluegreen-role"


def only(findings, rule):
    return [f for f in findings if f.rule == rule]


def blue_green(active="blue", blue_replicas=3, green_replicas=3, hpa_target=None,
               pdb_colour="active", public_selector=None, preview_gateway="internal"):
    """web-blue + web-green, public Service `web` and route on gateway `public`, preview
    Service `web-preview` and route on `preview_gateway`, PDB and HPA."""
    docs = fresh()
    base = docs.pop(0)
    idle = "green" if active == "blue" else "blue"
    for colour, replicas in (("blue", blue_replicas), ("green", green_replicas)):
        dep = copy.deepcopy(base)
        labels = {**LABELS, "color": colour}
        dep["metadata"]["name"] = f"web-{colour}"
        dep["spec"]["replicas"] = replicas
        dep["spec"]["selector"]["matchLabels"] = labels
        dep["spec"]["template"]["metadata"]["labels"] = labels
        for constraint in dep["spec"]["template"]["spec"].get("topologySpreadConstraints", []):
            constraint["labelSelector"] = {"matchLabels": labels}
        docs.append(dep)
    service = docs[0]
    service["spec"]["selector"] = public_selector or {**LABELS, "color": active}
    preview = copy.deepcopy(service)
    preview["metadata"]["name"] = "web-preview"
    preview["metadata"]["labels"] = {ROLE: "preview"}
    preview["spec"]["selector"] = {**LABELS, "color": idle}
    pdb = docs[1]
    colour = {"active": active, "idle": idle}.get(pdb_colour)
    pdb["spec"]["selector"] = {"matchLabels": {**LABELS, **({"color": colour} if colour else {})}}
    preview_pdb = copy.deepcopy(pdb)
    preview_pdb["metadata"] = {"name": "web-preview", "namespace": "shop",
                               "labels": {ROLE: "preview"}}
    preview_pdb["spec"]["selector"] = {"matchLabels": {**LABELS, "color": idle}}
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": hpa_target or f"web-{active}"},
                    "minReplicas": 3, "maxReplicas": 6}}

    def route(name, service_name, gateway):
        return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {"parentRefs": [{"name": gateway, "namespace": "gw"}],
                         "rules": [{"backendRefs": [{"name": service_name, "port": 80}]}]}}

    docs += [preview, preview_pdb, hpa, route("web", "web", "public"),
             route("web-preview", "web-preview", preview_gateway)]
    return docs


BLUEGREEN_RULES = ("bluegreen-public-one-color", "bluegreen-active-has-replicas",
                   "bluegreen-pdb-hpa-follow-active", "bluegreen-preview-not-public")


def test_a_correct_pair_passes(tmp_path):
    findings = evaluate(tmp_path, blue_green(), "prod")
    assert not [f for f in findings if f.rule in BLUEGREEN_RULES], findings


def test_public_service_on_both_colours(tmp_path):
    found = only(evaluate(tmp_path, blue_green(public_selector=dict(LABELS)), "prod"),
                 "bluegreen-public-one-color")
    assert found and "selects 2 colour(s)" in found[0].message


def test_every_service_labelled_preview_leaves_no_public_one(tmp_path):
    docs = blue_green()
    docs[0]["metadata"]["labels"] = {ROLE: "preview"}            # a hostile relabel
    assert only(evaluate(tmp_path, docs, "prod"), "bluegreen-public-one-color")


@pytest.mark.parametrize("env", ["prod", "staging", "dev"])
def test_active_colour_scaled_to_zero(tmp_path, env):
    """The HPA does not help: Kubernetes does not autoscale a workload at replicas 0."""
    docs = blue_green(active="green", green_replicas=0)
    found = only(evaluate(tmp_path, docs, env), "bluegreen-active-has-replicas")
    assert found and "web-green runs 0 replicas" in found[0].message


def test_idle_colour_at_zero_is_fine(tmp_path):
    assert not only(evaluate(tmp_path, blue_green(green_replicas=0), "prod"),
                    "bluegreen-active-has-replicas")


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"hpa_target": "web-green"}, "HorizontalPodAutoscaler web scales Deployment web-green"),
    ({"pdb_colour": "idle"}, "PodDisruptionBudget web covers colour(s) green"),
    ({"pdb_colour": "both"}, "PodDisruptionBudget web covers colour(s) blue, green"),
])
def test_pdb_and_hpa_must_follow_the_active_colour(tmp_path, kwargs, needle):
    found = only(evaluate(tmp_path, blue_green(**kwargs), "prod"),
                 "bluegreen-pdb-hpa-follow-active")
    assert any(needle in f.message for f in found), found


def test_preview_pdb_must_not_cover_the_active_colour(tmp_path):
    docs = blue_green()
    preview_pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget"
                       and d["metadata"]["name"] == "web-preview")
    preview_pdb["spec"]["selector"]["matchLabels"]["color"] = "blue"
    found = only(evaluate(tmp_path, docs, "prod"), "bluegreen-pdb-hpa-follow-active")
    assert found and "labelled preview" in found[0].message


def test_preview_route_on_the_public_gateway_in_prod_only(tmp_path):
    docs = blue_green(preview_gateway="public")
    found = only(evaluate(tmp_path, docs, "prod"), "bluegreen-preview-not-public")
    assert found and "Gateway gw/public" in found[0].message
    staging = tmp_path / "staging"
    staging.mkdir()
    assert not only(evaluate(staging, docs, "staging"), "bluegreen-preview-not-public")


def test_overlays_without_colours_are_left_alone(tmp_path):
    findings = evaluate(tmp_path, fresh(), "prod")
    assert not [f for f in findings if f.rule in BLUEGREEN_RULES]
