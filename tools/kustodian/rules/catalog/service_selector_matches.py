"""service-selector-matches: Services select pods, on ports those pods declare."""

from __future__ import annotations

from kustodian.resources import as_list
from kustodian.rules.catalog._common import HIGH, OVERLAY, Rule, Violation


def check(ctx):
    for svc in ctx.of_kind("Service"):
        selector = svc.spec.get("selector")
        if not selector or svc.spec.get("type") == "ExternalName":
            continue  # manual Endpoints / ExternalName: nothing to match
        selected = ctx.workloads_selected_by(svc, selector, map_style=True)
        if not selected:
            yield Violation(f"Service {svc.name} selects no pod of this overlay (selector "
                            f"{selector})", ("spec", "selector"), resource=svc)
            continue
        names = {p.get("name") for w in selected for c in w.app_containers()
                 for p in as_list(c.spec.get("ports")) if isinstance(p, dict)}
        for i, port in enumerate(as_list(svc.spec.get("ports"))):
            target = port.get("targetPort") if isinstance(port, dict) else None
            if isinstance(target, str) and not target.isdigit() and target not in names:
                yield Violation(f"Service {svc.name} targets port {target!r}, which no "
                                "selected container declares",
                                ("spec", "ports", i, "targetPort"), resource=svc)


RULE = Rule(
    id="service-selector-matches", severity=HIGH, category="cross-resource", scope=OVERLAY,
    title="Services select pods and their named target ports",
    rationale="A Service whose selector or named targetPort matches no pod has no "
              "endpoints: every request to it fails.",
    remediation="Make spec.selector a subset of the pod template labels and name the "
                "targetPort as a containerPort of those pods.",
    check=check)
