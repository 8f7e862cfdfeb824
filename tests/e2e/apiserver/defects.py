"""Single defects injected into the rendered overlays/prod-canary, each with the finding the
gate must raise for it. REJECTED: the ones a real kube-apiserver refuses (a server-side apply
dry run); WARNED: accepted with a warning; GATE_ONLY: accepted by the server, caught by the
gate's own rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Docs = list[dict[str, Any]]


def find(docs: Docs, kind: str, name: str) -> dict[str, Any]:
    for doc in docs:
        if doc.get("kind") == kind and doc["metadata"]["name"] == name:
            return doc
    raise KeyError(f"{kind}/{name} not in the render")


def agent(docs: Docs) -> dict[str, Any]:
    return find(docs, "Deployment", "agent")


def container(docs: Docs) -> dict[str, Any]:
    return agent(docs)["spec"]["template"]["spec"]["containers"][0]


def pod(docs: Docs) -> dict[str, Any]:
    return agent(docs)["spec"]["template"]["spec"]


def cronjob_container(docs: Docs) -> dict[str, Any]:
    spec = find(docs, "CronJob", "redis-backup")["spec"]["jobTemplate"]["spec"]
    return spec["template"]["spec"]["containers"][0]


def route_rule(docs: Docs) -> dict[str, Any]:
    return find(docs, "HTTPRoute", "agent")["spec"]["rules"][0]


@dataclass(frozen=True)
class Defect:
    name: str
    mutate: Callable[[Docs], None]
    rule: str                 # the finding expected for it
    kind: str                 # on this object
    object_name: str


def _set(getter: Callable[[Docs], dict], key: str, value: Any) -> Callable[[Docs], None]:
    def mutate(docs: Docs) -> None:
        getter(docs)[key] = value
    return mutate


def _selector_mismatch(docs: Docs) -> None:
    agent(docs)["spec"]["template"]["metadata"]["labels"]["track"] = "stabel"


def _cpu_request_above_limit(docs: Docs) -> None:
    container(docs)["resources"]["requests"]["cpu"] = "3"


def _bad_quantity(docs: Docs) -> None:
    container(docs)["resources"]["limits"]["memory"] = "500mi"


def _duplicate_port_names(docs: Docs) -> None:
    container(docs)["ports"].append({"containerPort": 8001, "name": "http", "protocol": "TCP"})


def _probe_two_handlers(docs: Docs) -> None:
    container(docs)["livenessProbe"]["tcpSocket"] = {"port": "http"}


def _mount_undefined_volume(docs: Docs) -> None:
    container(docs)["volumeMounts"].append({"mountPath": "/cache", "name": "cache"})


def _duplicate_volume_names(docs: Docs) -> None:
    pod(docs)["volumes"].append({"name": "tmp", "emptyDir": {}})


def _no_surge_no_unavailable(docs: Docs) -> None:
    agent(docs)["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 0, "maxUnavailable": 0}


def _rename(kind: str, name: str, new: str) -> Callable[[Docs], None]:
    def mutate(docs: Docs) -> None:
        find(docs, kind, name)["metadata"]["name"] = new
    return mutate


def _long_label_value(docs: Docs) -> None:
    agent(docs)["metadata"]["labels"]["app.kubernetes.io/component"] = "a" * 64


def _bad_label_key(docs: Docs) -> None:
    agent(docs)["metadata"]["labels"]["team name"] = "platform"


def _duplicate_service_ports(docs: Docs) -> None:
    find(docs, "Service", "agent")["spec"]["ports"].append(
        {"name": "http-alt", "port": 80, "protocol": "TCP", "targetPort": "http"})


def _cluster_ip_outside_range(docs: Docs) -> None:
    find(docs, "Service", "agent")["spec"]["clusterIP"] = "192.168.77.10"


def _hpa_zero_utilization(docs: Docs) -> None:
    hpa = find(docs, "HorizontalPodAutoscaler", "agent")
    hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] = 0


def _pdb_both(docs: Docs) -> None:
    find(docs, "PodDisruptionBudget", "agent")["spec"]["minAvailable"] = 1


def _cron_minute_61(docs: Docs) -> None:
    find(docs, "CronJob", "redis-backup")["spec"]["schedule"] = "61 * * * *"


def _unknown_time_zone(docs: Docs) -> None:
    find(docs, "CronJob", "redis-backup")["spec"]["timeZone"] = "Mars/Olympus_Mons"


def _cidr_33(docs: Docs) -> None:
    policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
    policy["spec"].setdefault("egress", []).append(
        {"to": [{"ipBlock": {"cidr": "10.20.0.0/33"}}]})
    if "Egress" not in policy["spec"].setdefault("policyTypes", ["Ingress"]):
        policy["spec"]["policyTypes"].append("Egress")


def _env_two_sources(docs: Docs) -> None:
    container(docs)["env"][0]["valueFrom"]["configMapKeyRef"] = {"name": "x", "key": "y"}


def _unsupported_field_ref(docs: Docs) -> None:
    cronjob_container(docs)["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] = "spec.hostname"


def _route_path_relative(docs: Docs) -> None:
    route_rule(docs)["matches"][0]["path"]["value"] = "v1"


def _route_path_double_slash(docs: Docs) -> None:
    route_rule(docs)["matches"][1]["path"]["value"] = "/version//x"


def _route_backend_timeout_longer(docs: Docs) -> None:
    route_rule(docs)["timeouts"] = {"request": "10s", "backendRequest": "60s"}


def _missing_namespace(docs: Docs) -> None:
    find(docs, "HTTPRoute", "agent")["metadata"]["namespace"] = "agent-prdo"


def _huge_annotation(docs: Docs) -> None:
    find(docs, "ConfigMap", "agent-config-bc4559ktgk")["metadata"]["annotations"][
        "example.com/blob"] = "x" * (300 * 1024)


def _typo_field(docs: Docs) -> None:
    agent(docs)["spec"]["replica"] = 3


def _wrong_type(docs: Docs) -> None:
    find(docs, "StatefulSet", "redis")["spec"]["replicas"] = "one"


def _port_out_of_range(docs: Docs) -> None:
    container(docs)["ports"][0]["containerPort"] = 80000


def _job_restart_always(docs: Docs) -> None:
    spec = find(docs, "CronJob", "redis-backup")["spec"]["jobTemplate"]["spec"]
    spec["template"]["spec"]["restartPolicy"] = "Always"


def _no_image(docs: Docs) -> None:
    del container(docs)["image"]


def _privileged(docs: Docs) -> None:
    ctx = container(docs)["securityContext"]
    ctx["privileged"] = True
    ctx["allowPrivilegeEscalation"] = True


def _unqualified_finalizer(docs: Docs) -> None:
    # (on a built-in kind the server rejects it; on a custom resource it warns)
    find(docs, "HTTPRoute", "agent")["metadata"]["finalizers"] = ["cleanup"]


def _latest_tag(docs: Docs) -> None:
    container(docs)["image"] = "ghcr.io/acme/agent:latest"


def _no_limits(docs: Docs) -> None:
    del container(docs)["resources"]["limits"]


def _no_readiness(docs: Docs) -> None:
    del container(docs)["readinessProbe"]


def _service_selects_nothing(docs: Docs) -> None:
    find(docs, "Service", "agent")["spec"]["selector"]["track"] = "stabel"


def _pdb_selects_nothing(docs: Docs) -> None:
    find(docs, "PodDisruptionBudget", "agent")["spec"]["selector"]["matchLabels"]["track"] = "x"


def _weights_not_100(docs: Docs) -> None:
    route_rule(docs)["backendRefs"][0]["weight"] = 90


def _plaintext_secret(docs: Docs) -> None:
    docs.append({"apiVersion": "v1", "kind": "Secret",
                 "metadata": {"name": "llm-key", "namespace": "agent-prod"},
                 "stringData": {"api-key": "sk-proj-" + "a1B2c3D4e5F6g7H8" * 3}})


def _token_automount(docs: Docs) -> None:
    del pod(docs)["automountServiceAccountToken"]
    del find(docs, "ServiceAccount", "agent")["automountServiceAccountToken"]


D = Defect
REJECTED = [
    D("selector-not-matching-template", _selector_mismatch, "apiserver-rejected",
      "Deployment", "agent"),
    D("cpu-request-above-limit", _cpu_request_above_limit, "apiserver-rejected",
      "Deployment", "agent"),
    D("quantity-500mi", _bad_quantity, "apiserver-rejected", "Deployment", "agent"),
    D("duplicate-container-port-names", _duplicate_port_names, "apiserver-rejected",
      "Deployment", "agent"),
    D("probe-with-two-handlers", _probe_two_handlers, "apiserver-rejected",
      "Deployment", "agent"),
    D("mount-of-undefined-volume", _mount_undefined_volume, "apiserver-rejected",
      "Deployment", "agent"),
    D("duplicate-volume-names", _duplicate_volume_names, "apiserver-rejected",
      "Deployment", "agent"),
    D("max-surge-and-unavailable-zero", _no_surge_no_unavailable, "apiserver-rejected",
      "Deployment", "agent"),
    D("uppercase-name", _rename("Service", "agent-canary", "Agent-Canary"),
      "apiserver-rejected", "Service", "Agent-Canary"),
    D("underscore-name", _rename("ServiceAccount", "redis-backup", "redis_backup"),
      "apiserver-rejected", "ServiceAccount", "redis_backup"),
    D("label-value-over-63", _long_label_value, "apiserver-rejected", "Deployment", "agent"),
    D("invalid-label-key", _bad_label_key, "apiserver-rejected", "Deployment", "agent"),
    D("duplicate-service-ports", _duplicate_service_ports, "apiserver-rejected",
      "Service", "agent"),
    D("cluster-ip-outside-service-range", _cluster_ip_outside_range, "apiserver-rejected",
      "Service", "agent"),
    D("hpa-average-utilization-0", _hpa_zero_utilization, "apiserver-rejected",
      "HorizontalPodAutoscaler", "agent"),
    D("pdb-min-available-and-max-unavailable", _pdb_both, "apiserver-rejected",
      "PodDisruptionBudget", "agent"),
    D("cron-minute-61", _cron_minute_61, "apiserver-rejected", "CronJob", "redis-backup"),
    D("unknown-time-zone", _unknown_time_zone, "apiserver-rejected", "CronJob",
      "redis-backup"),
    D("network-policy-cidr-33", _cidr_33, "apiserver-rejected", "NetworkPolicy", None),
    D("env-value-from-two-sources", _env_two_sources, "apiserver-rejected",
      "Deployment", "agent"),
    D("unsupported-field-ref-path", _unsupported_field_ref, "apiserver-rejected",
      "CronJob", "redis-backup"),
    D("httproute-relative-path", _route_path_relative, "apiserver-rejected",
      "HTTPRoute", "agent"),
    D("httproute-double-slash-path", _route_path_double_slash, "apiserver-rejected",
      "HTTPRoute", "agent"),
    D("httproute-backend-timeout-over-request", _route_backend_timeout_longer,
      "apiserver-rejected", "HTTPRoute", "agent"),
    D("missing-namespace", _missing_namespace, "apiserver-rejected", "HTTPRoute", "agent"),
    D("annotations-over-256k", _huge_annotation, "apiserver-rejected", "ConfigMap",
      "agent-config-bc4559ktgk"),
    D("unknown-field", _typo_field, "apiserver-rejected", "Deployment", "agent"),
    D("wrong-type", _wrong_type, "apiserver-rejected", "StatefulSet", "redis"),
    D("container-port-out-of-range", _port_out_of_range, "apiserver-rejected",
      "Deployment", "agent"),
    D("job-restart-policy-always", _job_restart_always, "apiserver-rejected", "CronJob",
      "redis-backup"),
    D("container-without-image", _no_image, "apiserver-rejected", "Deployment", "agent"),
]
WARNED = [
    D("privileged-in-restricted-namespace", _privileged, "apiserver-warning",
      "Deployment", "agent"),
    D("unqualified-finalizer-on-custom-resource", _unqualified_finalizer, "apiserver-warning",
      "HTTPRoute", "agent"),
]
GATE_ONLY = [
    D("latest-tag", _latest_tag, "image-tag-pinned", "Deployment", "agent"),
    D("no-limits", _no_limits, "resource-limits", "Deployment", "agent"),
    D("no-readiness-probe", _no_readiness, "readiness-probe", "Deployment", "agent"),
    D("service-selects-no-pod", _service_selects_nothing, "service-selector-matches",
      "Service", "agent"),
    D("pdb-selects-no-pod", _pdb_selects_nothing, "pdb-selects-pods", "PodDisruptionBudget",
      "agent"),
    D("canary-weights-not-100", _weights_not_100, "canary-split", "HTTPRoute", "agent"),
    D("plaintext-secret-committed", _plaintext_secret, "no-plaintext-secrets", "Secret",
      "llm-key"),
    D("service-account-token-mounted", _token_automount, "service-account-token",
      "Deployment", "agent"),
]
ALL = REJECTED + WARNED + GATE_ONLY
