"""rbac-no-cluster-secret-read: Secrets are not readable cluster-wide."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, OVERLAY, Rule, Violation
from kustodian.rules.catalog._rbac import READ_VERBS, grants, role_ref, rules_of

AGGREGATE_PREFIX = "rbac.authorization.k8s.io/aggregate-to-"


def _secret_rule(role):
    return next((i for i, rule in rules_of(role) if grants(rule, {""}, "secrets", READ_VERBS)),
                None)


def check(ctx):
    roles = {role.name: role for role in ctx.of_kind("ClusterRole")}
    for binding in ctx.of_kind("ClusterRoleBinding"):
        kind, name = role_ref(binding)
        role = roles.get(name) if kind == "ClusterRole" else None
        if role is not None and (i := _secret_rule(role)) is not None:
            yield Violation(f"ClusterRoleBinding {binding.name} binds ClusterRole {name}, "
                            f"which reads Secrets (rules[{i}]), in every namespace",
                            ("roleRef", "name"), resource=binding)
    for role in roles.values():
        aggregated = sorted(k for k in role.labels if str(k).startswith(AGGREGATE_PREFIX)
                            and str(role.labels[k]) == "true")
        if aggregated and (i := _secret_rule(role)) is not None:
            yield Violation(f"ClusterRole {role.name} reads Secrets (rules[{i}]) and is "
                            f"aggregated into {', '.join(aggregated)}: everyone bound to "
                            "those roles gets it", ("rules", i), resource=role)


RULE = Rule(
    id="rbac-no-cluster-secret-read", severity=HIGH, category="cluster-security",
    scope=OVERLAY,
    title="Secrets are not readable cluster-wide",
    rationale="get/list/watch on Secrets in every namespace reads every credential of the "
              "cluster, ServiceAccount tokens included (list returns their contents).",
    remediation="Grant Secret access with a Role (or a RoleBinding of the ClusterRole) in "
                "the one namespace that needs it, with resourceNames where possible.",
    references=("https://kubernetes.io/docs/concepts/security/rbac-good-practices/"
                "#listing-secrets",),
    check=check)
