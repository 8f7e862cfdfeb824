"""pdb-selects-pods: every PodDisruptionBudget selects some pods."""

from __future__ import annotations

from kustodian.rules.catalog._common import MEDIUM, OVERLAY, Rule, Violation


def check(ctx):
    for pdb in ctx.of_kind("PodDisruptionBudget"):
        selector = pdb.spec.get("selector")
        if selector is None:
            yield Violation(f"PodDisruptionBudget {pdb.name} has no selector",
                            ("spec", "selector"), resource=pdb)
        elif not ctx.workloads_selected_by(pdb, selector):
            yield Violation(f"PodDisruptionBudget {pdb.name} selects no pod of this overlay "
                            f"(selector {selector})", ("spec", "selector"), resource=pdb)


RULE = Rule(
    id="pdb-selects-pods", severity=MEDIUM, category="cross-resource", scope=OVERLAY,
    title="PodDisruptionBudgets select existing pods",
    rationale="A PDB whose selector matches nothing protects nothing, usually after a label "
              "was renamed on one side only.",
    remediation="Make spec.selector match the pod template labels of the workload (same "
                "namespace).",
    check=check)
