"""rbac-no-escalation-verbs: no escalate, bind or impersonate grants."""

from __future__ import annotations

from kustodian.rules.catalog._common import CRITICAL, RESOURCE, Rule, Violation
from kustodian.rules.catalog._rbac import ROLE_KINDS, rules_of, strings

ESCALATION_VERBS = ("escalate", "bind", "impersonate")


def check(r, ctx):
    for i, rule in rules_of(r):
        found = [v for v in strings(rule, "verbs") if v in ESCALATION_VERBS]
        if found:
            on = ", ".join(strings(rule, "resources")) or "(no resources)"
            yield Violation(f"{r.kind} {r.name} rules[{i}] grants {', '.join(found)} on {on}: "
                            "the subject can give itself (or act as) any role",
                            ("rules", i, "verbs"))


RULE = Rule(
    id="rbac-no-escalation-verbs", severity=CRITICAL, category="cluster-security",
    scope=RESOURCE, kinds=ROLE_KINDS,
    title="No escalate, bind or impersonate verbs",
    rationale="`escalate` lets a subject create roles with permissions it does not hold, "
              "`bind` lets it bind any role, and `impersonate` lets it act as other users, "
              "groups or ServiceAccounts: each is a path to cluster-admin.",
    remediation="Remove the verb; grant the concrete permissions the subject needs instead.",
    references=("https://kubernetes.io/docs/concepts/security/rbac-good-practices/"
                "#privilege-escalation-risks",),
    check=check)
