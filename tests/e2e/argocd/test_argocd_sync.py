"""A real Argo CD syncs this repository into a throw-away cluster (`make e2e`; docs/cluster.md).

The bootstrap app of apps (argocd/bootstrap) is applied once, as the README says; from there
the application-controller and repo-server do everything from a local bare clone of this
checkout. Health comes from real controllers: kube-controller-manager and kube-scheduler, kwok
(simulated nodes, pods become Running and Ready), the External Secrets Operator (its `fake`
provider is the secret store). Status of exactly two kinds comes from the test's StatusHelper
(stack.py): HTTPRoute (no Gateway implementation) and HorizontalPodAutoscaler (no metrics).

The tests run in file order and build on each other (one cluster for the module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import yaml
from stack import wait_until

AUTOMATED = ("agent-dev", "agent-staging")
NAMESPACE = {"agent-dev": "agent-dev", "agent-staging": "agent-staging",
             "agent-prod": "agent-prod"}


def _release(stack, *args: str) -> str:
    """Run a kustodian release command the way a person does: it commits on a release branch
    and pushes to main (its policy gate is tested elsewhere: --no-check). Returns the commit
    main is at afterwards."""
    proc = subprocess.run([sys.executable, "-m", "kustodian", *args, "--repo", str(stack.git.work),
                           "--commit", "--push", "--target", "main", "--no-check"],
                          cwd=stack.git.work, capture_output=True, text=True, timeout=300,
                          env=stack.git.env())
    assert proc.returncode == 0, f"kustodian {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}"
    return stack.git.pull()


def _created(obj: dict) -> str:
    return obj["metadata"]["creationTimestamp"]


def test_every_server_runs_in_the_private_loopback_only_namespace(stack):
    # Argo CD's controller binds 0.0.0.0:8082 (hard-coded): that address must be the private
    # namespace's, whose only interface is loopback. (The fixture asserts that no process is
    # left in the namespace after the cluster stopped.)
    host = os.stat("/proc/self/ns/net").st_ino
    private = os.stat(stack.cluster.netns_path).st_ino
    assert private != host
    names = set()
    for component in stack.cluster.components:
        assert component.alive(), f"{component.name} exited:\n{component.tail()}"
        pid = component.proc.pid
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == private, component.name
        names.add(component.name)
    assert names >= {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                     "kwok", "external-secrets", "redis", "argocd-repo-server",
                     "argocd-application-controller"}
    with open(f"/proc/{stack.cluster.components[0].proc.pid}/net/dev") as dev:
        interfaces = {line.split(":", 1)[0].strip() for line in dev.readlines()[2:]}
    assert interfaces == {"lo"}


def test_bootstrap_syncs_the_app_of_apps_and_every_automated_environment(stack):
    stack.kube.run("apply", "--server-side", "--field-manager=e2e",
                   "-k", str(stack.git.work / "argocd/bootstrap"))
    stack.argocd.wait("agent-root")
    for name in AUTOMATED:
        stack.argocd.wait(name)
    head = stack.git.git("rev-parse", "HEAD")
    for name in ("agent-root", *AUTOMATED):
        assert stack.argocd.status(name)[2] == head
    assert stack.kube.get("appproject", "agent", "argocd"), "the root app did not sync argocd/"


def test_every_external_secret_is_synced_and_materialised(stack):
    # The API server fills CRD defaults (conversionStrategy, decodingStrategy, metadataPolicy)
    # the manifests do not set: with a client-side diff they stay OutOfSync forever.
    for name in AUTOMATED:
        namespace = NAMESPACE[name]
        external = stack.kube.items("externalsecrets.external-secrets.io", namespace)
        assert external, f"{name}: no ExternalSecret synced"
        resources = stack.argocd.app(name)["status"]["resources"]
        states = {r["name"]: r["status"] for r in resources if r["kind"] == "ExternalSecret"}
        assert states == {e["metadata"]["name"]: "Synced" for e in external}
        for e in external:
            spec = e["spec"]["data"][0]["remoteRef"]
            assert "conversionStrategy" in spec, "the API server no longer fills the defaults"
            assert any(c["type"] == "Ready" and c["status"] == "True"
                       for c in e.get("status", {}).get("conditions", [])), e["metadata"]["name"]
            target = e["spec"]["target"]["name"]
            assert stack.kube.get("secret", target, namespace), f"{namespace}/{target} missing"


def test_prod_stays_out_of_sync_until_a_person_syncs_it(stack):
    argocd = stack.argocd
    wait_until(lambda: argocd.status("agent-prod")[0] == "OutOfSync", 120,
               "agent-prod to be compared (OutOfSync)")
    # Several reconciliations later (app-resync is 15 s here) nothing has been applied.
    first = argocd.app("agent-prod")["status"]["reconciledAt"]
    wait_until(lambda: argocd.app("agent-prod")["status"]["reconciledAt"] != first, 90,
               "another reconciliation of agent-prod")
    time.sleep(20)
    assert argocd.status("agent-prod")[0] == "OutOfSync"
    assert "operationState" not in argocd.app("agent-prod")["status"]
    assert not stack.kube.items("deployments", "agent-prod")

    argocd.sync("agent-prod")
    argocd.wait("agent-prod", timeout=300)
    assert stack.kube.get("deployment", "agent", "agent-prod")


def test_sync_waves_run_in_order_and_wait_for_health(stack):
    # Waves: -2 namespace, -1 secrets/config/service accounts, 0 redis, 1 agent, 2 monitoring.
    # Each wave starts only when the previous one is Healthy: the secrets ESO materialised
    # exist before redis was created, and redis was Ready before the agent was created.
    ns = "agent-prod"
    result = stack.argocd.app("agent-prod")["status"]["operationState"]["syncResult"]
    assert {r["kind"] for r in result["resources"]} >= {"Namespace", "Deployment", "HTTPRoute"}
    namespace = stack.kube.get("namespace", ns)
    redis = stack.kube.get("statefulset", "redis", ns)
    agent = stack.kube.get("deployment", "agent", ns)
    monitor = stack.kube.items("servicemonitors.monitoring.coreos.com", ns)
    secrets = [stack.kube.get("secret", e["spec"]["target"]["name"], ns)
               for e in stack.kube.items("externalsecrets.external-secrets.io", ns)]
    assert secrets and all(secrets)
    assert _created(namespace) <= min(_created(s) for s in secrets)
    assert max(_created(s) for s in secrets) <= _created(redis)
    ready = [c["lastTransitionTime"] for p in stack.kube.items("pods", ns)
             if p["metadata"]["name"].startswith("redis-")
             for c in p["status"].get("conditions", []) if c["type"] == "Ready"]
    assert ready and max(ready) <= _created(agent)
    assert monitor and _created(agent) <= min(_created(m) for m in monitor)


def _route_weights(stack, namespace: str) -> dict[str, int]:
    route = stack.kube.get("httproute", "agent", namespace)
    return {b["name"]: b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]}


def test_a_canary_step_committed_by_kustodian_changes_the_live_route_weights(stack):
    before = _route_weights(stack, "agent-staging")
    assert before == {"agent": 90, "agent-canary": 10}
    revision = _release(stack, "canary", "weight", "50", "--env", "staging")
    stack.argocd.refresh("agent-staging")
    stack.argocd.wait("agent-staging", revision=revision)
    assert _route_weights(stack, "agent-staging") == {"agent": 50, "agent-canary": 50}


def test_an_image_bump_syncs_a_new_replicaset(stack):
    ns = "agent-dev"

    def replicasets() -> dict[str, dict]:
        return {r["metadata"]["name"]: r for r in stack.kube.items("replicasets", ns)
                if r["metadata"]["name"].startswith("agent-")}
    old = set(replicasets())
    revision = _release(stack, "bump", "--env", "dev", "--tag", "0.2.0")
    stack.argocd.refresh("agent-dev")
    stack.argocd.wait("agent-dev", revision=revision)
    new = {name: rs for name, rs in replicasets().items() if name not in old}
    assert len(new) == 1, f"expected one new ReplicaSet, got {sorted(new)}"
    (rs,) = new.values()
    images = [c["image"] for c in rs["spec"]["template"]["spec"]["containers"]]
    assert any(image.endswith(":0.2.0") for image in images), images
    assert rs["status"].get("readyReplicas") == rs["spec"]["replicas"]
    for name in old:
        assert replicasets()[name]["spec"]["replicas"] == 0


def test_pruning_removes_a_resource_deleted_from_git(stack):
    ns = "agent-dev"
    monitors = stack.kube.items("servicemonitors.monitoring.coreos.com", ns)
    assert monitors
    name = monitors[0]["metadata"]["name"]
    kfile = stack.git.work / "overlays/dev/kustomization.yaml"
    kustomization = yaml.safe_load(kfile.read_text())
    kustomization.setdefault("patches", []).append({
        "target": {"group": "monitoring.coreos.com", "kind": "ServiceMonitor", "name": name},
        "patch": json.dumps({"$patch": "delete", "apiVersion": "monitoring.coreos.com/v1",
                             "kind": "ServiceMonitor", "metadata": {"name": name}})})
    kfile.write_text(yaml.safe_dump(kustomization, sort_keys=False))
    revision = stack.git.commit("dev: drop the ServiceMonitor")
    stack.argocd.refresh("agent-dev")
    stack.argocd.wait("agent-dev", revision=revision)
    wait_until(lambda: stack.kube.get("servicemonitor", name, ns) is None, 60,
               f"{ns}/ServiceMonitor {name} to be pruned")
