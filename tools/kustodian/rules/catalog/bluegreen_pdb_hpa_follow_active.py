"""bluegreen-pdb-hpa-follow-active: the PDB and the HPA are on the active colour."""

from __future__ import annotations

from kustodian.resources import as_dict
from kustodian.rules.catalog._bluegreen import PREVIEW, ROLE_LABEL, blue_green
from kustodian.rules.catalog._common import HIGH, OVERLAY, Rule, Violation
from kustodian.rules.context import selector_matches


def check(ctx):
    bg = blue_green(ctx)
    if bg is None or not bg.active:
        return
    active = bg.active
    for hpa in ctx.of_kind("HorizontalPodAutoscaler"):
        ref = as_dict(hpa.spec.get("scaleTargetRef"))
        target = ctx.find(str(ref.get("kind")), hpa.namespace, str(ref.get("name")))
        w = target.workload if target is not None else None
        colour = bg.colour_of(w) if w is not None else None
        if colour is not None and colour not in active:
            yield Violation(f"HorizontalPodAutoscaler {hpa.name} scales {target.kind} "
                            f"{target.name} (colour {colour}), not the active colour "
                            f"{', '.join(sorted(active))}", ("spec", "scaleTargetRef", "name"),
                            resource=hpa)
    for pdb in ctx.of_kind("PodDisruptionBudget"):
        selector = pdb.spec.get("selector")
        colours = {bg.colour_of(w) for ws in bg.colours.values() for w in ws
                   if ctx.same_namespace(w.resource, pdb)
                   and selector_matches(selector, w.pod_labels)}
        if pdb.labels.get(ROLE_LABEL) == PREVIEW:
            if colours & active:
                yield Violation(f"PodDisruptionBudget {pdb.name} is labelled preview but "
                                f"covers the active colour {', '.join(sorted(active))}",
                                ("spec", "selector"), resource=pdb)
        elif colours and colours != active:
            yield Violation(f"PodDisruptionBudget {pdb.name} covers colour(s) "
                            f"{', '.join(sorted(c or '' for c in colours))}, not exactly the "
                            f"active colour {', '.join(sorted(active))}",
                            ("spec", "selector"), resource=pdb)


RULE = Rule(
    id="bluegreen-pdb-hpa-follow-active", severity=HIGH, category="cross-resource",
    scope=OVERLAY,
    title="The PDB and the HPA of a blue-green pair follow the active colour",
    rationale="After a switch the active colour carries the traffic: an HPA left on the old "
              "colour scales the wrong pods, and a PDB on the old (or both) colours lets a "
              "drain take the serving pods down together or blocks retiring the idle ones. "
              "The idle colour may have its own PDB labelled "
              "`kustodian.io/bluegreen-role: preview`, which must not cover the active one.",
    remediation="Set the HPA's scaleTargetRef and the PDB's `color` selector from the active "
                "colour (components/blue-green does it from the overlay's bluegreen.yaml).",
    check=check)
