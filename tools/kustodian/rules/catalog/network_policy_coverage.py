"""network-policy-coverage: every production pod is selected by a NetworkPolicy."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, OVERLAY, Rule, Violation


def check(ctx):
    covered = ctx.covered_workloads("NetworkPolicy", "podSelector")
    for w in ctx.workloads:
        r = w.resource
        if r.kind == "PodTemplate":
            continue
        if id(w) in covered:
            continue
        yield Violation(f"no NetworkPolicy selects the pods of {r.kind} {r.name}",
                        (*w.metadata_path, "labels"), resource=r)


RULE = Rule(
    id="network-policy-coverage", severity=HIGH, category="cross-resource", scope=OVERLAY,
    envs=("prod",),
    title="Every production pod is covered by a NetworkPolicy",
    rationale="Pods no NetworkPolicy selects accept traffic from anywhere in the cluster; a "
              "default-deny policy plus explicit allows limits the blast radius of a breach.",
    remediation="Add a NetworkPolicy whose podSelector matches the pod labels (a default-deny "
                "policy with podSelector: {} covers the namespace).",
    check=check)
