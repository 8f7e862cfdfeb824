"""hpa-pdb-consistent: HPAs target existing workloads and agree with their PDBs."""

from __future__ import annotations

from kustodian.resources import as_dict
from kustodian.rules.catalog._common import HIGH, OVERLAY, Rule, Violation
from kustodian.rules.catalog._pdb import scaled
from kustodian.rules.context import selector_matches


def check(ctx):
    for hpa in ctx.of_kind("HorizontalPodAutoscaler"):
        ref = as_dict(hpa.spec.get("scaleTargetRef"))
        target = ctx.find(str(ref.get("kind")), hpa.namespace, str(ref.get("name")))
        if target is None:
            yield Violation(f"HorizontalPodAutoscaler {hpa.name} targets {ref.get('kind')} "
                            f"{ref.get('name')}, which this overlay does not contain",
                            ("spec", "scaleTargetRef", "name"), resource=hpa)
            continue
        low, high = hpa.spec.get("minReplicas", 1), hpa.spec.get("maxReplicas")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            yield Violation(f"HorizontalPodAutoscaler {hpa.name} has minReplicas {low} > "
                            f"maxReplicas {high}", ("spec", "minReplicas"), resource=hpa)
        w = target.workload
        if w is None or not isinstance(low, int):
            continue
        for pdb in ctx.of_kind_in("PodDisruptionBudget", target.namespace):
            if not selector_matches(pdb.spec.get("selector"), w.pod_labels):
                continue
            if "minAvailable" in pdb.spec:
                needed = scaled(pdb.spec["minAvailable"], low)
                if needed is not None and needed >= low:
                    yield Violation(
                        f"PodDisruptionBudget {pdb.name} minAvailable "
                        f"{pdb.spec['minAvailable']} needs {needed} pod(s) but HPA {hpa.name} "
                        f"may scale {target.kind} {target.name} down to {low}: evictions "
                        "block at minimum scale", ("spec", "minAvailable"), resource=pdb)


RULE = Rule(
    id="hpa-pdb-consistent", severity=HIGH, category="cross-resource", scope=OVERLAY,
    title="HPAs target existing workloads and leave room for their PDB",
    rationale="An HPA whose target is missing does nothing; a PDB whose minAvailable reaches "
              "the HPA's minReplicas blocks every drain whenever the workload is at its "
              "minimum scale.",
    remediation="Point scaleTargetRef at the workload (kind and name as rendered), keep "
                "minReplicas <= maxReplicas, and keep the PDB's minAvailable below minReplicas "
                "(or use maxUnavailable: 1).",
    check=check)
