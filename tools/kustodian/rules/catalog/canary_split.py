"""canary-split: stable and canary Services stay apart and route weights are sane."""

from __future__ import annotations

from kustodian.resources import as_dict, as_list
from kustodian.rules.catalog._common import HIGH, OVERLAY, Rule, Violation

TRACK = "track"


def _services_tracks(ctx):
    """Service -> set of pod `track` values it selects, and the workloads it selects."""
    out = {}
    for svc in ctx.of_kind("Service"):
        selector = svc.spec.get("selector")
        if not selector:
            continue
        selected = ctx.workloads_selected_by(svc, selector, map_style=True)
        out[(svc.namespace, svc.name)] = (svc, selected,
                                          {w.pod_labels.get(TRACK) for w in selected})
    return out


def _check_services(services):
    for svc, selected, tracks in services.values():
        selector = as_dict(svc.spec.get("selector"))
        wanted = selector.get(TRACK)
        if "canary" in tracks and len(tracks) > 1:
            names = ", ".join(sorted(f"{w.resource.name} ({w.pod_labels.get(TRACK)})"
                                     for w in selected))
            yield Violation(f"Service {svc.name} selects both canary and non-canary pods "
                            f"({names}); select on {TRACK}: stable or {TRACK}: canary",
                            ("spec", "selector"), resource=svc)
        elif wanted is None and svc.name.endswith("-canary") and tracks - {"canary"}:
            yield Violation(f"Service {svc.name} looks like a canary Service but selects "
                            "non-canary pods", ("spec", "selector"), resource=svc)


def _check_routes(ctx, services):
    for route in ctx.of_kind("HTTPRoute", "GRPCRoute"):
        for i, rule in enumerate(as_list(route.spec.get("rules"))):
            refs = [as_dict(r) for r in as_list(as_dict(rule).get("backendRefs"))]
            if len(refs) < 2:
                continue
            weights = [ref.get("weight", 1) for ref in refs]
            base = ("spec", "rules", i, "backendRefs")
            for j, wt in enumerate(weights):
                if not isinstance(wt, int) or isinstance(wt, bool) or wt < 0:
                    yield Violation(f"{route.kind} {route.name}: backend weight {wt!r} is not "
                                    "a non-negative integer", (*base, j, "weight"),
                                    resource=route)
                    return
            total = sum(weights)
            canary = any("canary" in services.get((ref.get("namespace") or route.namespace,
                                                   ref.get("name")), (0, 0, set()))[2]
                         for ref in refs)
            if total == 0:
                yield Violation(f"{route.kind} {route.name}: every backend weight is 0, the "
                                "route serves nothing", (*base, 0, "weight"), resource=route)
            elif canary and total != 100:
                yield Violation(f"{route.kind} {route.name}: backend weights sum to {total}, "
                                "not 100 (stable + canary)", (*base, 0, "weight"), resource=route)
            for j, ref in enumerate(refs):
                entry = services.get((ref.get("namespace") or route.namespace, ref.get("name")))
                if entry is None or weights[j] == 0:
                    continue
                _, selected, _ = entry
                running = [w for w in selected if ctx.min_replicas(w) != 0]
                if not running:
                    yield Violation(f"{route.kind} {route.name} sends {weights[j]}% to "
                                    f"Service {ref.get('name')}, whose pods are scaled to 0",
                                    (*base, j, "weight"), resource=route)


def check(ctx):
    services = _services_tracks(ctx)
    yield from _check_services(services)
    yield from _check_routes(ctx, services)


RULE = Rule(
    id="canary-split", severity=HIGH, category="cross-resource", scope=OVERLAY,
    title="Canary and stable traffic stay apart and route weights are sane",
    rationale="If the stable Service also selects canary pods (or the reverse), the route "
              "weights no longer decide how much traffic the canary gets; weights must be "
              "non-negative, sum to 100 and never send traffic to pods scaled to zero.",
    remediation="Select on track: stable / track: canary in the two Services; keep the "
                "stable and canary weights summing to 100, and weight 0 while the canary has "
                "0 replicas.",
    check=check)
