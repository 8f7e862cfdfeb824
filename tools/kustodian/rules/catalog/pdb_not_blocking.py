"""pdb-not-blocking: a PodDisruptionBudget must allow at least one voluntary eviction."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, OVERLAY, Rule, Violation
from kustodian.rules.catalog._pdb import allowed_disruptions, is_zero_budget


def check(ctx):
    for pdb in ctx.of_kind("PodDisruptionBudget"):
        spec = pdb.spec
        zero, field = is_zero_budget(spec)
        if zero:
            yield Violation(f"PodDisruptionBudget {pdb.name} sets {field}: {spec[field]}: no "
                            "pod can ever be evicted, node drains hang", ("spec", field),
                            resource=pdb)
            continue
        selected = ctx.workloads_selected_by(pdb, spec.get("selector"))
        counts = [ctx.min_replicas(w) for w in selected]
        if not selected or any(c is None for c in counts):
            continue
        total = sum(counts)
        if total == 0:
            continue  # nothing running (a parked canary): nothing to block
        allowed, field = allowed_disruptions(spec, total)
        if allowed is not None and allowed <= 0:
            yield Violation(f"PodDisruptionBudget {pdb.name} {field}: {spec[field]} allows "
                            f"{max(allowed, 0)} eviction(s) with {total} pod(s) running: node "
                            "drains hang", ("spec", field), resource=pdb)


RULE = Rule(
    id="pdb-not-blocking", severity=HIGH, category="cross-resource", scope=OVERLAY,
    title="PodDisruptionBudgets allow evictions",
    rationale="minAvailable >= the replica count, maxUnavailable 0 or minAvailable 100% "
              "forbid every voluntary eviction: node drains and cluster upgrades block.",
    remediation="Use maxUnavailable: 1, or a minAvailable strictly below the (minimum) "
                "replica count.",
    check=check)
