"""bluegreen-preview-not-public: in prod the preview route is not on the public Gateway."""

from __future__ import annotations

from kustodian.rules.catalog._bluegreen import blue_green, parent_gateways, route_services
from kustodian.rules.catalog._common import HIGH, OVERLAY, Rule, Violation

ROUTES = ("HTTPRoute", "GRPCRoute")


def check(ctx):
    bg = blue_green(ctx)
    if bg is None:
        return
    public = {(s.namespace, s.name) for s, _ in bg.public}
    idle = {(s.namespace, s.name) for s, sel in bg.preview}
    idle |= {(s.namespace, s.name) for s, sel in bg.public
             if not {bg.colour_of(w) for w in sel} & bg.active}
    public_gateways: set = set()
    preview_routes = []
    for route in ctx.of_kind(*ROUTES):
        services = set(route_services(ctx, route))
        if services & public:
            public_gateways |= parent_gateways(route)
        if services & idle:
            preview_routes.append(route)
    for route in preview_routes:
        shared = parent_gateways(route) & public_gateways
        if shared:
            ns, name = sorted(shared)[0]
            yield Violation(f"{route.kind} {route.name} exposes the preview (idle colour) on "
                            f"Gateway {ns}/{name}, which also serves the public route",
                            ("spec", "parentRefs"), resource=route)


RULE = Rule(
    id="bluegreen-preview-not-public", severity=HIGH, category="cross-resource",
    scope=OVERLAY, envs=("prod",),
    title="The blue-green preview route is not public in production",
    rationale="The idle colour runs an unswitched (possibly unverified or retired) release; "
              "on the public Gateway anyone can reach it and bypass the switch's gate.",
    remediation="Attach the preview route to an internal Gateway (components/blue-green uses "
                "gateway-system/internal-gateway), or leave it out in prod.",
    check=check)
