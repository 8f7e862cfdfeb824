"""pdb-required: replicated workloads are covered by a PodDisruptionBudget."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, OVERLAY, SCALABLE, Rule, Violation


def check(ctx):
    covered = ctx.covered_workloads("PodDisruptionBudget", "selector")
    for w in ctx.workloads:
        r = w.resource
        if r.kind not in SCALABLE:
            continue
        hpa = ctx.hpa_for(r)
        replicas = w.replicas()
        if hpa is None and (replicas is None or replicas <= 1):
            continue
        if id(w) in covered:
            continue
        why = f"is scaled by HPA {hpa.name}" if hpa else f"runs {replicas} replicas"
        yield Violation(f"{r.kind} {r.name} {why} but no PodDisruptionBudget selects its pods",
                        (*w.metadata_path, "labels"), resource=r)


RULE = Rule(
    id="pdb-required", severity=HIGH, category="cross-resource", scope=OVERLAY,
    envs=("staging", "prod"),
    title="Replicated workloads have a PodDisruptionBudget",
    rationale="Without a PDB a node drain may evict every replica at once; with more than "
              "one replica (or an HPA) the budget is what keeps the service up during "
              "cluster maintenance.",
    remediation="Add a PodDisruptionBudget whose selector matches the pod labels, with "
                "maxUnavailable: 1 (or a minAvailable below the replica count).",
    check=check)
