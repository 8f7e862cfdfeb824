"""rbac-no-admin-binding: nothing binds the cluster-admin, admin or edit ClusterRoles."""

from __future__ import annotations

from kustodian.resources import as_list
from kustodian.rules.catalog._common import CRITICAL, RESOURCE, Rule, Violation
from kustodian.rules.catalog._rbac import BINDING_KINDS, role_ref

ADMIN_ROLES = ("cluster-admin", "admin", "edit")


def check(r, ctx):
    kind, name = role_ref(r)
    if kind == "ClusterRole" and name in ADMIN_ROLES:
        who = ", ".join(f"{s.get('kind')} {s.get('name')}" for s in as_list(r.obj.get("subjects"))
                        if isinstance(s, dict)) or "no subjects yet"
        scope = "the whole cluster" if r.kind == "ClusterRoleBinding" else \
            f"namespace {r.namespace or '(default)'}"
        yield Violation(f"{r.kind} {r.name} grants the built-in ClusterRole {name} over "
                        f"{scope} to {who}", ("roleRef", "name"))


RULE = Rule(
    id="rbac-no-admin-binding", severity=CRITICAL, category="cluster-security",
    scope=RESOURCE, kinds=BINDING_KINDS,
    title="No bindings to cluster-admin, admin or edit",
    rationale="cluster-admin is every permission on every object; admin and edit let the "
              "subject read Secrets, create Roles or exec into pods of the namespace. A "
              "workload's ServiceAccount (or a person) needs a Role naming what it uses.",
    remediation="Bind a Role (or ClusterRole) that lists only the resources and verbs "
                "the subject needs.",
    references=("https://kubernetes.io/docs/concepts/security/rbac-good-practices/",),
    check=check)
