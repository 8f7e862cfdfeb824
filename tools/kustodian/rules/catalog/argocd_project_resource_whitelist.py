"""argocd-project-resource-whitelist: no wildcard entries in an AppProject's whitelists."""

from __future__ import annotations

from kustodian import argoglob
from kustodian.resources import as_list
from kustodian.rules.catalog._appproject import APPPROJECT, PROBE_HOST, is_appproject
from kustodian.rules.catalog._common import HIGH, RESOURCE, Rule, Violation

ANY = (PROBE_HOST, "KustodianProbe")
RBAC = "rbac.authorization.k8s.io"
PROBES = {
    "clusterResourceWhitelist": (
        (RBAC, "ClusterRoleBinding"), (RBAC, "ClusterRole"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"), ANY),
    "namespaceResourceWhitelist": ((RBAC, "RoleBinding"), (RBAC, "Role"), ("", "Secret"), ANY),
}


def check(r, ctx):
    if not is_appproject(r):
        return
    for key, probes in PROBES.items():
        namespaced = key.startswith("namespace")
        for i, item in enumerate(as_list(r.spec.get(key))):
            if not isinstance(item, dict):
                continue
            group, kind = str(item.get("group") or ""), str(item.get("kind") or "")
            if not (argoglob.has_wildcard(group) or argoglob.has_wildcard(kind)):
                continue   # an explicit kind was reviewed as such
            hits = [p for p in probes if argoglob.resource_entry_matches(item, *p)
                    and argoglob.kind_permitted(r.spec, *p, namespaced=namespaced)]
            if hits:
                what = "every kind" if ANY in hits else ", ".join(k for _, k in hits)
                yield Violation(f"AppProject {r.name}: spec.{key}[{i}] (group {group!r}, kind "
                                f"{kind!r}) allows {what}", ("spec", key, i))


RULE = Rule(
    id="argocd-project-resource-whitelist", severity=HIGH, category="cluster-security",
    scope=RESOURCE, kinds=APPPROJECT,
    title="AppProject resource whitelists list kinds, not '*'",
    rationale="The whitelists are the kinds the project's Applications may create. A "
              "pattern that matches every kind, or RBAC, CRDs and admission webhooks, lets "
              "an Application grant itself cluster-admin or intercept every API request. "
              "Matched as Argo CD does (Go filepath.Match on group and kind).",
    remediation="List each group and kind the project's Applications deploy.",
    references=("https://argo-cd.readthedocs.io/en/stable/user-guide/projects/",),
    check=check)
