"""rbac-no-wildcard: Roles and ClusterRoles name their verbs, resources and API groups."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, RESOURCE, Rule, Violation
from kustodian.rules.catalog._rbac import ROLE_KINDS, rules_of, strings


def check(r, ctx):
    for i, rule in rules_of(r):
        for key in ("verbs", "resources", "apiGroups", "nonResourceURLs"):
            values = strings(rule, key)
            if key == "apiGroups" and "*" not in strings(rule, "resources"):
                continue   # any group but named resources: reported only with resources: *
            if any(v == "*" or (key == "nonResourceURLs" and v.endswith("*")) for v in values):
                yield Violation(f"{r.kind} {r.name} rules[{i}] grants {key}: '*' (every "
                                f"{key[:-1] if key != 'apiGroups' else 'API group'} there is "
                                "now and in the future)", ("rules", i, key))


RULE = Rule(
    id="rbac-no-wildcard", severity=HIGH, category="cluster-security", scope=RESOURCE,
    kinds=ROLE_KINDS,
    title="RBAC rules name their verbs and resources (no '*')",
    rationale="A '*' verb or resource grants everything, including verbs and resources "
              "added later (CRDs, subresources such as pods/exec), so the role silently "
              "grows with the cluster.",
    remediation="List the verbs (get, list, watch, ...) and resources the subject uses.",
    references=("https://kubernetes.io/docs/concepts/security/rbac-good-practices/",),
    check=check)
