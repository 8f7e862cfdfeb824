"""Cross-resource rules over one overlay: selectors (matchLabels AND matchExpressions), HPA
targets, PDB arithmetic with percentages, route backends, NetworkPolicy coverage, canary."""

from __future__ import annotations

import copy

import pytest
from manifests import LABELS, evaluate, fresh, pod_spec, rules_of


def hpa(min_replicas=3, max_replicas=6, target="web"):
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": target},
                     "minReplicas": min_replicas, "maxReplicas": max_replicas}}


def pdb_spec(docs):
    return docs[2]["spec"]


def only(findings, rule):
    return [f for f in findings if f.rule == rule]


# --- pdb-required ---------------------------------------------------------------------------

def test_pdb_required_in_prod_and_staging_not_dev(tmp_path):
    docs = fresh()
    del docs[2]
    for env in ("prod", "staging"):
        assert only(evaluate(tmp_path, docs, env), "pdb-required"), env
    assert not only(evaluate(tmp_path, docs, "dev"), "pdb-required")


def test_pdb_required_for_hpa_managed_workload(tmp_path):
    docs = fresh()
    del docs[2]
    docs[0]["spec"].pop("replicas")
    docs.append(hpa())
    assert only(evaluate(tmp_path, docs, "staging"), "pdb-required")


def test_pdb_not_required_for_single_replica(tmp_path):
    docs = fresh()
    del docs[2]
    docs[0]["spec"]["replicas"] = 1
    assert not only(evaluate(tmp_path, docs, "staging"), "pdb-required")


def test_pdb_in_other_namespace_does_not_count(tmp_path):
    docs = fresh()
    docs[2]["metadata"]["namespace"] = "other"
    assert only(evaluate(tmp_path, docs, "prod"), "pdb-required")


# --- pdb-selects-pods -----------------------------------------------------------------------

@pytest.mark.parametrize("selector", [
    {"matchLabels": {"app.kubernetes.io/name": "wbe"}},
    {"matchLabels": {"app.kubernetes.io/name": "web"},
     "matchExpressions": [{"key": "track", "operator": "In", "values": ["canary"]}]},
    {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
])
def test_pdb_selecting_nothing(tmp_path, selector):
    docs = fresh()
    pdb_spec(docs)["selector"] = selector
    assert only(evaluate(tmp_path, docs, "dev"), "pdb-selects-pods")


@pytest.mark.parametrize("selector", [
    {"matchLabels": {"app.kubernetes.io/name": "web"}},
    {"matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary"]},
                          {"key": "app.kubernetes.io/name", "operator": "Exists"}]},
    {"matchLabels": {"track": "stable"},
     "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
])
def test_pdb_selecting_pods(tmp_path, selector):
    docs = fresh()
    pdb_spec(docs)["selector"] = selector
    assert not only(evaluate(tmp_path, docs, "dev"), "pdb-selects-pods")


# --- pdb-not-blocking -----------------------------------------------------------------------

@pytest.mark.parametrize("budget", [{"maxUnavailable": 0}, {"maxUnavailable": "0%"},
                                    {"minAvailable": "100%"}, {"minAvailable": 3},
                                    {"minAvailable": 4}, {"minAvailable": "90%"}])
def test_blocking_budgets(tmp_path, budget):
    docs = fresh()
    docs[2]["spec"] = {**budget, "selector": {"matchLabels": dict(LABELS)}}
    assert only(evaluate(tmp_path, docs, "prod"), "pdb-not-blocking"), budget


@pytest.mark.parametrize("budget", [{"maxUnavailable": 1}, {"maxUnavailable": "10%"},
                                    {"minAvailable": 2}, {"minAvailable": "50%"},
                                    {"minAvailable": "66%"}])
def test_budgets_that_allow_evictions(tmp_path, budget):
    docs = fresh()
    docs[2]["spec"] = {**budget, "selector": {"matchLabels": dict(LABELS)}}
    assert not only(evaluate(tmp_path, docs, "prod"), "pdb-not-blocking"), budget


def test_pdb_counts_hpa_min_replicas(tmp_path):
    docs = fresh()
    docs[0]["spec"].pop("replicas")
    docs.append(hpa(min_replicas=2))
    docs[2]["spec"] = {"minAvailable": 2, "selector": {"matchLabels": dict(LABELS)}}
    rules = rules_of(evaluate(tmp_path, docs, "prod"))
    assert {"pdb-not-blocking", "hpa-pdb-consistent"} <= rules


# --- hpa-pdb-consistent ---------------------------------------------------------------------

def test_hpa_target_missing(tmp_path):
    docs = fresh()
    docs.append(hpa(target="nope"))
    assert only(evaluate(tmp_path, docs, "dev"), "hpa-pdb-consistent")


def test_hpa_min_above_max(tmp_path):
    docs = fresh()
    docs.append(hpa(min_replicas=5, max_replicas=3))
    assert only(evaluate(tmp_path, docs, "dev"), "hpa-pdb-consistent")


def test_hpa_and_pdb_consistent(tmp_path):
    docs = fresh()
    docs[0]["spec"].pop("replicas")
    docs.append(hpa(min_replicas=3))
    docs[2]["spec"] = {"minAvailable": 2, "selector": {"matchLabels": dict(LABELS)}}
    assert evaluate(tmp_path, docs, "prod") == []


def test_min_replicas_counts_hpa(tmp_path):
    docs = fresh()
    docs[0]["spec"].pop("replicas")
    docs.append(hpa(min_replicas=1))
    findings = only(evaluate(tmp_path, docs, "prod"), "min-replicas")
    assert [f.kind for f in findings] == ["HorizontalPodAutoscaler"]


# --- service-selector-matches ---------------------------------------------------------------

def test_service_selector_typo(tmp_path):
    docs = fresh()
    docs[1]["spec"]["selector"] = {"app.kubernetes.io/name": "wbe"}
    assert only(evaluate(tmp_path, docs, "dev"), "service-selector-matches")


def test_service_selector_extra_label(tmp_path):
    docs = fresh()
    docs[1]["spec"]["selector"] = {**LABELS, "tier": "frontend"}
    assert only(evaluate(tmp_path, docs, "dev"), "service-selector-matches")


def test_service_in_other_namespace(tmp_path):
    docs = fresh()
    docs[1]["metadata"]["namespace"] = "other"
    assert only(evaluate(tmp_path, docs, "dev"), "service-selector-matches")


def test_service_named_target_port_missing(tmp_path):
    docs = fresh()
    docs[1]["spec"]["ports"][0]["targetPort"] = "grpc"
    assert only(evaluate(tmp_path, docs, "dev"), "service-selector-matches")


def test_service_without_selector_is_fine(tmp_path):
    docs = fresh()
    docs[1]["spec"].pop("selector")
    assert evaluate(tmp_path, docs, "dev") == []


# --- ingress-backend-exists -----------------------------------------------------------------

def ingress(service="web", port=None):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": service,
                                        "port": port or {"name": "http"}}}}]}}]}}


def route(*refs):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": list(refs)}]}}


@pytest.mark.parametrize("extra", [
    ingress(service="missing"), ingress(port={"number": 8080}), ingress(port={"name": "grpc"}),
    route({"name": "missing", "port": 80}), route({"name": "web", "port": 81}),
])
def test_dangling_backends(tmp_path, extra):
    docs = fresh()
    docs.append(extra)
    assert only(evaluate(tmp_path, docs, "dev"), "ingress-backend-exists")


@pytest.mark.parametrize("extra", [ingress(), ingress(port={"number": 80}),
                                   route({"name": "web", "port": 80})])
def test_existing_backends(tmp_path, extra):
    docs = fresh()
    docs.append(extra)
    assert evaluate(tmp_path, docs, "dev") == []


# --- network-policy-coverage ----------------------------------------------------------------

def test_network_policy_missing_in_prod_only(tmp_path):
    docs = fresh()
    del docs[3]
    assert only(evaluate(tmp_path, docs, "prod"), "network-policy-coverage")
    assert not only(evaluate(tmp_path, docs, "dev"), "network-policy-coverage")


def test_network_policy_selecting_other_pods(tmp_path):
    docs = fresh()
    docs[3]["spec"]["podSelector"] = {"matchLabels": {"app.kubernetes.io/name": "db"}}
    assert only(evaluate(tmp_path, docs, "prod"), "network-policy-coverage")


def test_namespace_wide_network_policy(tmp_path):
    docs = fresh()
    docs[3]["spec"]["podSelector"] = {}
    assert evaluate(tmp_path, docs, "prod") == []


# --- canary-split ---------------------------------------------------------------------------

def canary_set(stable_weight=90, canary_weight=10, canary_replicas=1, stable_selector=None):
    docs = fresh()
    canary = copy.deepcopy(docs[0])
    canary["metadata"]["name"] = "web-canary"
    canary["spec"]["replicas"] = canary_replicas
    labels = {**LABELS, "track": "canary"}
    canary["spec"]["selector"]["matchLabels"] = labels
    canary["spec"]["template"]["metadata"]["labels"] = labels
    pod_spec([canary])["topologySpreadConstraints"][0]["labelSelector"] = {"matchLabels": labels}
    canary_svc = copy.deepcopy(docs[1])
    canary_svc["metadata"]["name"] = "web-canary"
    canary_svc["spec"]["selector"] = labels
    if stable_selector is not None:
        docs[1]["spec"]["selector"] = stable_selector
    docs[2]["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "web"}}
    docs += [canary, canary_svc, route({"name": "web", "port": 80, "weight": stable_weight},
                                       {"name": "web-canary", "port": 80,
                                        "weight": canary_weight})]
    return docs


def test_canary_split_clean(tmp_path):
    assert evaluate(tmp_path, canary_set(), "prod") == []


def test_idle_canary_is_clean(tmp_path):
    assert evaluate(tmp_path, canary_set(100, 0, canary_replicas=0), "prod") == []


def test_stable_service_selecting_canary_pods(tmp_path):
    docs = canary_set(stable_selector={"app.kubernetes.io/name": "web"})
    assert only(evaluate(tmp_path, docs, "prod"), "canary-split")


def test_weights_not_summing_to_100(tmp_path):
    assert only(evaluate(tmp_path, canary_set(90, 20), "prod"), "canary-split")


def test_negative_weight(tmp_path):
    assert only(evaluate(tmp_path, canary_set(110, -10), "prod"), "canary-split")


def test_traffic_to_canary_scaled_to_zero(tmp_path):
    assert only(evaluate(tmp_path, canary_set(90, 10, canary_replicas=0), "prod"),
                "canary-split")
