"""The rendered workloads are hardened: the restricted Pod Security profile complete, probes
through named ports, requests and limits everywhere, the agent's runtime contract."""

from __future__ import annotations

import pytest
from deploy_helpers import OVERLAYS, POD_KINDS, all_containers, one, pod_spec

LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}
SAFE_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                "persistentVolumeClaim", "projected", "secret"}


def workloads(resources):
    return [r for r in resources if r["kind"] in POD_KINDS]


def effective(spec: dict, container: dict, key: str):
    """Container securityContext value, else the pod-level one (Kubernetes inheritance)."""
    value = container.get("securityContext", {}).get(key)
    return spec.get("securityContext", {}).get(key) if value is None else value


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_restricted_pod_security_profile(overlay, render):
    for w in workloads(render(f"overlays/{overlay}")):
        spec = pod_spec(w)
        where = f"{overlay} {w['kind']}/{w['metadata']['name']}"
        assert spec["automountServiceAccountToken"] is False, where
        assert spec.get("serviceAccountName") not in (None, "default"), where
        for host in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
            assert not spec.get(host), where
        assert set().union(*(v.keys() - {"name"} for v in spec.get("volumes", []))) <= SAFE_VOLUMES
        for c in all_containers(spec):
            here = f"{where} container {c['name']}"
            sc = c.get("securityContext", {})
            assert effective(spec, c, "runAsNonRoot") is True, here
            uid = effective(spec, c, "runAsUser")
            assert isinstance(uid, int) and uid > 0, here
            seccomp = effective(spec, c, "seccompProfile") or {}
            assert seccomp.get("type") == "RuntimeDefault", here
            assert sc.get("allowPrivilegeEscalation") is False, here
            assert sc.get("privileged") in (None, False), here
            assert sc.get("readOnlyRootFilesystem") is True, here
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], here
            assert not sc.get("capabilities", {}).get("add"), here
            assert all("hostPort" not in p for p in c.get("ports", [])), here
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c.get("resources", {}).get(kind, {})), \
                    f"{here}: resources.{kind} needs cpu and memory"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_go_through_declared_named_ports(overlay, render):
    for w in workloads(render(f"overlays/{overlay}")):
        if w["kind"] not in LONG_RUNNING:
            continue
        for c in pod_spec(w)["containers"]:
            names = {p["name"] for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                assert probe in c, f"{w['metadata']['name']}/{c['name']} lacks {probe}"
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                handler = c.get(probe, {})
                port = (handler.get("httpGet") or handler.get("tcpSocket") or {}).get("port")
                if port is not None:
                    assert isinstance(port, str) and port in names, (c["name"], probe, port)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_agent_runtime_contract(overlay, render):
    resources = render(f"overlays/{overlay}")
    config = next(r for r in resources if r["kind"] == "ConfigMap"
                  and r["metadata"]["name"].startswith("agent-config-"))
    for name in ("agent", "agent-canary") if overlay.endswith("-canary") else ("agent",):
        deploy = one(resources, "Deployment", name)
        spec = pod_spec(deploy)
        (c,) = spec["containers"]
        assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["securityContext"]["runAsGroup"] == 10001
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        for path in ("/tmp", "/var/run/agent-metrics"):
            assert "emptyDir" in volumes[mounts[path]], f"{path} must be an emptyDir"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert [e["configMapRef"]["name"] for e in c["envFrom"]] == [config["metadata"]["name"]]
        env = {e["name"] for e in c["env"]} | set(config["data"])
        assert {"PORT", "REDIS_URL", "AGENT_API_KEYS_FILE", "AGENT_BACKEND", "LOG_LEVEL",
                "GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_GRACEFUL_TIMEOUT",
                "PROMETHEUS_MULTIPROC_DIR"} <= env
        assert config["data"]["PROMETHEUS_MULTIPROC_DIR"] == "/var/run/agent-metrics"
        assert config["data"]["PORT"] == "8000"
        # Shutdown budget: preStop sleep + gunicorn graceful timeout fit in the grace period.
        pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        graceful = int(config["data"]["GUNICORN_GRACEFUL_TIMEOUT"])
        assert pre_stop + graceful < spec["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_pods_and_routes_point_at_services(overlay, render):
    resources = render(f"overlays/{overlay}")
    pod_labels = [pod_template_labels(w) for w in workloads(resources)]
    services = {r["metadata"]["name"]: r for r in resources if r["kind"] == "Service"}
    for name, svc in services.items():
        selector = svc["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), name
    for route in (r for r in resources if r["kind"] == "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                svc = services[ref["name"]]
                assert ref["port"] in {p["port"] for p in svc["spec"]["ports"]}


def pod_template_labels(resource: dict) -> dict:
    if resource["kind"] == "CronJob":
        return resource["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return resource["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_default_deny_and_cover_every_pod(overlay, render):
    resources = render(f"overlays/{overlay}")
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny[0]["spec"] and "egress" not in deny[0]["spec"]
    specific = [p for p in policies if p["spec"]["podSelector"]]
    for w in workloads(resources):
        labels = pod_template_labels(w)
        assert any(p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
                   for p in specific), f"{w['metadata']['name']} has no NetworkPolicy of its own"
    redis = next(p for p in policies if p["metadata"]["name"] == "redis")
    peers = [peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
             for rule in redis["spec"]["ingress"] for peer in rule["from"]]
    assert sorted(peers) == ["agent", "redis-backup"]
    agent = next(p for p in policies if p["metadata"]["name"] == "agent")
    sources = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for rule in agent["spec"]["ingress"] for peer in rule["from"]
               if "namespaceSelector" in peer]
    assert sorted(sources) == ["gateway-system", "monitoring"]
    scraper = next(peer for rule in agent["spec"]["ingress"] for peer in rule["from"]
                   if "podSelector" in peer and "namespaceSelector" in peer)
    assert scraper["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    local = [peer["podSelector"]["matchLabels"] for rule in agent["spec"]["ingress"]
             for peer in rule["from"] if "namespaceSelector" not in peer]
    assert local == [{"app.kubernetes.io/name": "agent-smoke"}]     # the post-sync smoke Job
    assert [p["port"] for rule in agent["spec"]["ingress"] for p in rule["ports"]] == ["http"]
    egress_ports = sorted({p["port"] for rule in agent["spec"]["egress"] for p in rule["ports"]})
    assert egress_ports == [53, 443, 6379]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_is_persistent_authenticated_and_backed_up(overlay, render):
    resources = render(f"overlays/{overlay}")
    redis = one(resources, "StatefulSet", "redis")
    (c,) = pod_spec(redis)["containers"]
    assert "--requirepass" in c["args"]
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    conf = next(r for r in resources if r["kind"] == "ConfigMap"
                and r["metadata"]["name"].startswith("redis-config-"))
    assert "appendonly yes" in conf["data"]["redis.conf"].splitlines()
    backup = one(resources, "CronJob", "redis-backup")
    assert backup["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod_spec(backup)
    assert [c["name"] for c in spec["initContainers"]] == ["snapshot"]
    assert {"secretRef": {"name": "redis-backup-s3"}} in spec["containers"][0]["envFrom"]
