"""Every built-in rule: at least one failing and one passing fixture (cross-resource rules
several), on every pod-bearing kind and container list, with securityContext inheritance."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest
from kustodian.rules.registry import all_rules
from manifests import (
    DIGEST,
    LABELS,
    container,
    deployment,
    evaluate,
    first_container,
    fresh,
    pod_spec,
    rules_of,
)


def sc(docs):
    return first_container(docs)["securityContext"]


def psc(docs):
    return pod_spec(docs)["securityContext"]


def init_container(docs, **sc_override):
    c = container("init")
    for k in ("livenessProbe", "readinessProbe", "ports"):
        c.pop(k)
    c["securityContext"].update(sc_override)
    pod_spec(docs)["initContainers"] = [c]
    return c


def _set(path, value):
    def mutate(docs):
        node = docs[0]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _do(*fns):
    def mutate(docs):
        for fn in fns:
            fn(docs)
    return mutate


# (case id, rule expected, env, mutation)
BAD = [
    ("non-root-unset", "run-as-non-root", "dev", lambda d: psc(d).pop("runAsNonRoot")),
    ("non-root-container-false", "run-as-non-root", "dev",
     lambda d: sc(d).update(runAsNonRoot=False)),
    ("non-root-pod-uid0", "run-as-non-root", "dev", lambda d: psc(d).update(runAsUser=0)),
    ("non-root-container-uid0", "run-as-non-root", "dev", lambda d: sc(d).update(runAsUser=0)),
    ("non-root-init", "run-as-non-root", "dev",
     lambda d: init_container(d, runAsNonRoot=False)),
    ("escalation-unset", "no-privilege-escalation", "dev",
     lambda d: sc(d).pop("allowPrivilegeEscalation")),
    ("escalation-true-init", "no-privilege-escalation", "dev",
     lambda d: init_container(d, allowPrivilegeEscalation=True)),
    ("escalation-ephemeral", "no-privilege-escalation", "dev",
     lambda d: pod_spec(d).update(ephemeralContainers=[{
         "name": "debug", "image": "busybox:1.36",
         "securityContext": {"readOnlyRootFilesystem": True,
                             "capabilities": {"drop": ["ALL"]}}}])),
    ("drop-missing", "drop-all-capabilities", "dev", lambda d: sc(d).pop("capabilities")),
    ("drop-partial", "drop-all-capabilities", "dev",
     lambda d: sc(d).update(capabilities={"drop": ["NET_RAW"]})),
    ("add-sys-admin", "no-added-capabilities", "dev",
     lambda d: sc(d)["capabilities"].update(add=["SYS_ADMIN"])),
    ("rofs-false", "read-only-root-filesystem", "dev",
     lambda d: sc(d).update(readOnlyRootFilesystem=False)),
    ("seccomp-unset", "seccomp-profile", "dev", lambda d: psc(d).pop("seccompProfile")),
    ("seccomp-pod-unconfined", "seccomp-profile", "dev",
     lambda d: psc(d).update(seccompProfile={"type": "Unconfined"})),
    ("seccomp-container-unconfined", "seccomp-profile", "dev",
     lambda d: sc(d).update(seccompProfile={"type": "Unconfined"})),
    ("privileged", "no-privileged", "dev", lambda d: sc(d).update(privileged=True)),
    ("host-network", "no-host-namespaces", "dev", lambda d: pod_spec(d).update(hostNetwork=True)),
    ("host-pid", "no-host-namespaces", "dev", lambda d: pod_spec(d).update(hostPID=True)),
    ("host-ipc", "no-host-namespaces", "dev", lambda d: pod_spec(d).update(hostIPC=True)),
    ("host-path", "no-host-path", "dev", lambda d: pod_spec(d).update(
        volumes=[{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}])),
    ("host-port", "no-host-ports", "dev",
     lambda d: first_container(d)["ports"][0].update(hostPort=8080)),
    ("apparmor-unconfined", "apparmor-profile", "dev",
     lambda d: sc(d).update(appArmorProfile={"type": "Unconfined"})),
    ("apparmor-annotation", "apparmor-profile", "dev",
     lambda d: d[0]["spec"]["template"]["metadata"].update(annotations={
         "container.apparmor.security.beta.kubernetes.io/web": "unconfined"})),
    ("selinux-type", "selinux-options", "dev",
     lambda d: psc(d).update(seLinuxOptions={"type": "spc_t"})),
    ("selinux-user", "selinux-options", "dev",
     lambda d: sc(d).update(seLinuxOptions={"user": "system_u"})),
    ("proc-mount", "default-proc-mount", "dev", lambda d: sc(d).update(procMount="Unmasked")),
    ("sysctl", "safe-sysctls", "dev",
     lambda d: psc(d).update(sysctls=[{"name": "kernel.msgmax", "value": "1"}])),
    ("volume-nfs", "restricted-volume-types", "dev", lambda d: pod_spec(d).update(
        volumes=[{"name": "data", "nfs": {"server": "nfs", "path": "/x"}}])),
    ("host-process", "no-host-process", "dev",
     lambda d: sc(d).update(windowsOptions={"hostProcess": True})),
    ("probe-host", "no-probe-host", "dev",
     lambda d: first_container(d)["livenessProbe"]["httpGet"].update(host="10.0.0.1")),
    ("lifecycle-host", "no-probe-host", "dev", lambda d: first_container(d).update(
        lifecycle={"preStop": {"httpGet": {"path": "/", "port": 80, "host": "evil"}}})),
    ("liveness-missing", "liveness-probe", "dev",
     lambda d: first_container(d).pop("livenessProbe")),
    ("readiness-missing", "readiness-probe", "dev",
     lambda d: first_container(d).pop("readinessProbe")),
    ("probe-port-undeclared", "probe-port-declared", "dev",
     lambda d: first_container(d)["readinessProbe"]["httpGet"].update(port="metrics")),
    ("requests-missing", "resource-requests", "dev",
     lambda d: first_container(d)["resources"].pop("requests")),
    ("limits-missing", "resource-limits", "dev",
     lambda d: first_container(d)["resources"].pop("limits")),
    ("memory-limit-missing", "resource-limits", "dev",
     lambda d: first_container(d)["resources"]["limits"].pop("memory")),
    ("init-no-resources", "resource-requests", "dev",
     lambda d: init_container(d) and pod_spec(d)["initContainers"][0].pop("resources")),
    ("replicas-1-prod", "min-replicas", "prod", _set(("spec", "replicas"), 1)),
    ("replicas-unset-prod", "min-replicas", "prod", lambda d: d[0]["spec"].pop("replicas")),
    ("spread-missing", "pod-spread", "prod",
     lambda d: pod_spec(d).pop("topologySpreadConstraints")),
    ("image-latest", "image-tag-pinned", "dev",
     lambda d: first_container(d).update(image="ghcr.io/acme/web:latest")),
    ("image-no-tag", "image-tag-pinned", "dev",
     lambda d: first_container(d).update(image="ghcr.io/acme/web")),
    ("image-no-digest-prod", "image-digest-pinned", "prod",
     lambda d: first_container(d).update(image="ghcr.io/acme/web:1.2.3")),
    ("sa-token", "service-account-token", "dev", _do(
        lambda d: pod_spec(d).pop("automountServiceAccountToken"),
        lambda d: d[4].pop("automountServiceAccountToken"))),
    ("secret-data", "no-plaintext-secrets", "dev", lambda d: d.append(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"},
         "data": {"password": "aHVudGVyMg=="}})),
    ("secret-string-data", "no-plaintext-secrets", "dev", lambda d: d.append(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"},
         "stringData": {"password": "hunter2"}})),
    ("node-port", "no-node-port", "dev", lambda d: d[1]["spec"].update(type="NodePort")),
    ("default-namespace", "no-default-namespace", "dev",
     lambda d: [doc["metadata"].update(namespace="default") for doc in d]),
    ("deprecated-api", "deprecated-api-version", "dev", lambda d: d[2].update(
        apiVersion="policy/v1beta1")),
]


@pytest.mark.parametrize(("case", "rule", "env", "mutate"), BAD, ids=[b[0] for b in BAD])
def test_rule_fails(tmp_path, case, rule, env, mutate):
    docs = fresh()
    mutate(docs)
    findings = evaluate(tmp_path, docs, env)
    assert rule in rules_of(findings), [(f.rule, f.message) for f in findings]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_hardened_app_is_clean(tmp_path, env):
    assert evaluate(tmp_path, fresh(), env) == []


def _rule_ids_asserted_elsewhere() -> dict[str, list[str]]:
    """rule id -> the tests of this suite, outside this module, that assert on it: a test
    function whose body holds the id as a string and at least one `assert`."""
    found: dict[str, list[str]] = {}
    here = Path(__file__).parent
    # the threat-model suite tests the cluster-security rules and exemption governance; the
    # API server's findings are tested against a real kube-apiserver by `make e2e`
    for path in sorted([*here.glob("test_*.py"), *(here.parent / "security").glob("test_*.py"),
                        *(here.parent / "e2e").rglob("test_*.py")]):
        if path.name == Path(__file__).name:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            inner = list(ast.walk(node))
            if not any(isinstance(n, ast.Assert) for n in inner):
                continue
            for n in inner:
                if isinstance(n, ast.Constant) and isinstance(n.value, str):
                    found.setdefault(n.value, []).append(f"{path.name}::{node.name}")
    return found


def test_every_rule_has_a_failing_case():
    """Each rule fails a case in BAD above, or in a test of another module of this suite
    (cross-resource rules, exemptions, schema validation need more than one manifest)."""
    here = {b[1] for b in BAD}
    elsewhere = _rule_ids_asserted_elsewhere()
    missing = sorted(r.id for r in all_rules() if r.id not in here and r.id not in elsewhere)
    assert not missing, f"rules without a failing test: {missing}"
    # the scan is not vacuous: the cross-resource rules are found where they are tested
    assert "test_cross_resource.py::test_weights_not_summing_to_100" in elsewhere["canary-split"]


POD_KINDS = {
    "StatefulSet": lambda t: {"apiVersion": "apps/v1", "kind": "StatefulSet",
                              "metadata": {"name": "x", "namespace": "shop"},
                              "spec": {"serviceName": "x", "replicas": 1,
                                       "selector": {"matchLabels": LABELS}, "template": t}},
    "DaemonSet": lambda t: {"apiVersion": "apps/v1", "kind": "DaemonSet",
                            "metadata": {"name": "x", "namespace": "shop"},
                            "spec": {"selector": {"matchLabels": LABELS}, "template": t}},
    "ReplicaSet": lambda t: {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                             "metadata": {"name": "x", "namespace": "shop"},
                             "spec": {"replicas": 1, "selector": {"matchLabels": LABELS},
                                      "template": t}},
    "ReplicationController": lambda t: {"apiVersion": "v1", "kind": "ReplicationController",
                                        "metadata": {"name": "x", "namespace": "shop"},
                                        "spec": {"replicas": 1, "selector": LABELS,
                                                 "template": t}},
    "Job": lambda t: {"apiVersion": "batch/v1", "kind": "Job",
                      "metadata": {"name": "x", "namespace": "shop"},
                      "spec": {"template": _restart_never(t)}},
    "CronJob": lambda t: {"apiVersion": "batch/v1", "kind": "CronJob",
                          "metadata": {"name": "x", "namespace": "shop"},
                          "spec": {"schedule": "0 * * * *",
                                   "jobTemplate": {"spec": {"template": _restart_never(t)}}}},
    "Pod": lambda t: {"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "x", "namespace": "shop", "labels": LABELS},
                      "spec": t["spec"]},
    "PodTemplate": lambda t: {"apiVersion": "v1", "kind": "PodTemplate",
                              "metadata": {"name": "x", "namespace": "shop"}, "template": t},
}


def _restart_never(template: dict) -> dict:
    template = copy.deepcopy(template)
    template["spec"]["restartPolicy"] = "Never"
    return template


@pytest.mark.parametrize("kind", sorted(POD_KINDS))
def test_every_pod_kind_is_checked(tmp_path, kind):
    template = copy.deepcopy(deployment()["spec"]["template"])
    good = POD_KINDS[kind](copy.deepcopy(template))
    assert evaluate(tmp_path, [good], "dev") == []
    template["spec"]["containers"][0]["securityContext"]["privileged"] = True
    bad = POD_KINDS[kind](template)
    findings = evaluate(tmp_path, [bad], "dev")
    assert {(f.rule, f.kind, f.container) for f in findings} == {("no-privileged", kind, "web")}


def test_kind_list_items_are_checked(tmp_path):
    bad = deployment()
    first_container([bad])["securityContext"]["privileged"] = True
    findings = evaluate(tmp_path, [{"apiVersion": "v1", "kind": "List", "items": [bad]}], "dev")
    assert "no-privileged" in rules_of(findings)


def test_batch_kinds_need_no_probes(tmp_path):
    template = copy.deepcopy(deployment()["spec"]["template"])
    for key in ("livenessProbe", "readinessProbe"):
        template["spec"]["containers"][0].pop(key)
    for kind in ("Job", "CronJob"):
        assert evaluate(tmp_path, [POD_KINDS[kind](copy.deepcopy(template))], "dev") == []


# --- inheritance and allowed values ----------------------------------------------------------

def test_container_level_only_security_context_passes(tmp_path):
    docs = fresh()
    pod_spec(docs).pop("securityContext")
    sc(docs).update(runAsNonRoot=True, runAsUser=10001, seccompProfile={"type": "Localhost",
                                                                         "localhostProfile": "p"})
    assert evaluate(tmp_path, docs, "dev") == []


def test_pod_level_values_are_inherited_by_init_containers(tmp_path):
    docs = fresh()
    init_container(docs)
    assert evaluate(tmp_path, docs, "dev") == []


def test_init_container_without_pod_level_seccomp_fails(tmp_path):
    docs = fresh()
    psc(docs).pop("seccompProfile")
    sc(docs)["seccompProfile"] = {"type": "RuntimeDefault"}
    init_container(docs)
    findings = [f for f in evaluate(tmp_path, docs, "dev") if f.rule == "seccomp-profile"]
    assert [f.container for f in findings] == ["init"]


def test_container_false_overrides_pod_true(tmp_path):
    docs = fresh()
    sc(docs)["runAsNonRoot"] = False
    findings = [f for f in evaluate(tmp_path, docs, "dev") if f.rule == "run-as-non-root"]
    assert [f.container for f in findings] == ["web"]


def test_net_bind_service_may_be_added(tmp_path):
    docs = fresh()
    sc(docs)["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert evaluate(tmp_path, docs, "dev") == []


def test_safe_sysctls_and_allowed_volumes_pass(tmp_path):
    docs = fresh()
    psc(docs)["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    pod_spec(docs)["volumes"] = [{"name": "tmp", "emptyDir": {}},
                                 {"name": "cfg", "configMap": {"name": "c"}},
                                 {"name": "p", "projected": {"sources": []}}]
    assert evaluate(tmp_path, docs, "dev") == []


def test_digest_only_image_is_pinned(tmp_path):
    docs = fresh()
    first_container(docs)["image"] = f"ghcr.io/acme/web@{DIGEST}"
    assert evaluate(tmp_path, docs, "prod") == []


def test_prod_only_rules_do_not_apply_to_dev(tmp_path):
    docs = fresh()
    docs[0]["spec"]["replicas"] = 1
    first_container(docs)["image"] = "ghcr.io/acme/web:1.2.3"
    pod_spec(docs).pop("topologySpreadConstraints")
    assert evaluate(tmp_path, docs, "dev") == []
    assert {"min-replicas", "image-digest-pinned"} <= rules_of(evaluate(tmp_path, docs, "prod"))


def test_service_account_opt_out_on_service_account(tmp_path):
    docs = fresh()
    pod_spec(docs).pop("automountServiceAccountToken")
    assert evaluate(tmp_path, docs, "dev") == []


def test_explicit_token_opt_in_passes(tmp_path):
    docs = fresh()
    pod_spec(docs)["automountServiceAccountToken"] = True
    docs[4].pop("automountServiceAccountToken")
    assert evaluate(tmp_path, docs, "dev") == []
