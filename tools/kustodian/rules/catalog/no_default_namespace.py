"""no-default-namespace: resources are not deployed to the default namespace."""

from __future__ import annotations

from kustodian.rules.catalog._common import LOW, RESOURCE, Rule, Violation


def check(r, ctx):
    if r.namespace == "default":
        yield Violation(f"{r.kind} {r.name} is in the default namespace",
                        ("metadata", "namespace"))


RULE = Rule(
    id="no-default-namespace", severity=LOW, category="hygiene", scope=RESOURCE,
    title="Nothing is deployed to the default namespace",
    rationale="The default namespace has no Pod Security labels, quotas or network policies "
              "of its own and is shared by everything that forgets a namespace.",
    remediation="Set the overlay's namespace: (or metadata.namespace) to the app's namespace.",
    check=check)
