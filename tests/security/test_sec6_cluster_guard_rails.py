"""6. Cluster weakening is a finding (category cluster-security).

The cluster's own guard rails hold even where this gate is not asked: Pod Security
Admission labels on the namespaces, and RBAC. A pull request that lowers a namespace's
`pod-security.kubernetes.io/enforce`, binds cluster-admin/admin/edit, grants `*`, the
escalate/bind/impersonate verbs or Secret reads across the cluster is reported."""

from __future__ import annotations

import pytest
from security_helpers import check_docs

RBAC = "rbac.authorization.k8s.io/v1"


def namespace(level: str | None) -> dict:
    labels = {"pod-security.kubernetes.io/enforce": level} if level else {"team": "agent"}
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "labels": labels}}


def role(kind: str, rules: list[dict], **labels: str) -> dict:
    meta = {"name": "r", **({"namespace": "shop"} if kind == "Role" else {})}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": RBAC, "kind": kind, "metadata": meta, "rules": rules}


def binding(kind: str, role_kind: str, role_name: str) -> dict:
    meta = {"name": "b", **({"namespace": "shop"} if kind == "RoleBinding" else {})}
    return {"apiVersion": RBAC, "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                        "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}]}


def rules(findings) -> list[str]:
    return sorted(f.rule for f in findings)


def test_pod_security_lowered_in_prod_is_caught_on_a_clone(scratch):
    path = scratch.root / "overlays/prod/namespace.yaml"
    path.write_text(path.read_text().replace("enforce: restricted", "enforce: baseline"))
    scratch.commit("prod namespace: baseline")
    for run in (scratch.full(), scratch.pr()):
        assert run.returncode == 1, run.stderr
        [hit] = [f for f in run.of("namespace-pod-security") if f["env"] == "prod"][:1]
        assert "baseline" in hit["message"] and hit["file"] == "overlays/prod/namespace.yaml"
        assert hit["severity"] == "high" and hit["category"] == "cluster-security"


@pytest.mark.parametrize(("env", "level", "caught"), [
    ("prod", "restricted", False), ("prod", "baseline", True), ("prod", "privileged", True),
    ("prod", None, True), ("prod", "Restricted", True), ("dev", "baseline", False),
    ("dev", "privileged", True), ("staging", None, True)])
def test_pod_security_level_per_env(tmp_path, env, level, caught):
    found = check_docs(tmp_path, [namespace(level)], env)
    assert ("namespace-pod-security" in rules(found)) is caught


def test_rbac_weakening_is_caught_on_a_clone(scratch):
    scratch.write("overlays/dev/rbac.yaml", """
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: agent-admin}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
        subjects: [{kind: ServiceAccount, name: agent, namespace: agent-dev}]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: everything}
        rules:
          - {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
          - {apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [escalate, bind]}
          - {apiGroups: [""], resources: [serviceaccounts], verbs: [impersonate]}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: secret-reader}
        rules:
          - {apiGroups: [""], resources: [secrets], verbs: [get, list]}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: secret-reader}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
        subjects: [{kind: ServiceAccount, name: agent, namespace: agent-dev}]
        """)
    kfile = scratch.root / "overlays/dev/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", "resources:\n  - rbac.yaml\n", 1))
    scratch.commit("dev: rbac")
    wanted = {"rbac-no-admin-binding", "rbac-no-wildcard", "rbac-no-escalation-verbs",
              "rbac-no-cluster-secret-read"}
    for run in (scratch.full(), scratch.pr()):
        assert run.returncode == 1, run.stderr
        assert wanted <= run.rules(), run.rules()
        assert all(f["file"] == "overlays/dev/rbac.yaml" for r in wanted for f in run.of(r))


@pytest.mark.parametrize(("docs", "expected"), [
    ([binding("RoleBinding", "ClusterRole", "admin")], ["rbac-no-admin-binding"]),
    ([binding("RoleBinding", "ClusterRole", "edit")], ["rbac-no-admin-binding"]),
    ([binding("RoleBinding", "ClusterRole", "view")], []),
    ([binding("RoleBinding", "Role", "cluster-admin")], []),     # a namespaced Role of that name
    ([role("Role", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}])],
     ["rbac-no-wildcard"]),
    ([role("Role", [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}])],
     ["rbac-no-wildcard"]),
    ([role("Role", [{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}])], []),
    ([role("ClusterRole", [{"nonResourceURLs": ["/api/*"], "verbs": ["get"]}])],
     ["rbac-no-wildcard"]),
    ([role("Role", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}])],
     []),
    ([role("ClusterRole", [{"apiGroups": [""], "resources": ["users"],
                            "verbs": ["impersonate"]}])], ["rbac-no-escalation-verbs"]),
    ([role("ClusterRole", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["watch"]}]),
      binding("ClusterRoleBinding", "ClusterRole", "r")], ["rbac-no-cluster-secret-read"]),
    ([role("ClusterRole", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
      binding("RoleBinding", "ClusterRole", "r")], []),          # one namespace only
    ([role("ClusterRole", [{"apiGroups": [""], "resources": ["secrets"],
                            "verbs": ["get"], "resourceNames": ["tls"]}]),
      binding("ClusterRoleBinding", "ClusterRole", "r")], []),  # one named Secret
    ([role("ClusterRole", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
           **{"rbac.authorization.k8s.io/aggregate-to-view": "true"})],
     ["rbac-no-cluster-secret-read"]),
])
def test_rbac_cases(tmp_path, docs, expected):
    found = [f for f in check_docs(tmp_path, docs, "dev") if f.category == "cluster-security"]
    assert sorted(f.rule for f in found) == sorted(expected), [f.message for f in found]
