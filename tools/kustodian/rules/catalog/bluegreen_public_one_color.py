"""bluegreen-public-one-color: the public Service selects exactly one colour."""

from __future__ import annotations

from kustodian.rules.catalog._bluegreen import COLOR, blue_green
from kustodian.rules.catalog._common import CRITICAL, OVERLAY, Rule, Violation


def check(ctx):
    bg = blue_green(ctx)
    if bg is None:
        return
    if not bg.public:
        first = next(iter(bg.colours.values()))[0]
        yield Violation(f"blue-green workloads ({', '.join(sorted(bg.colours))}) but no public "
                        "Service selects any colour (every one is labelled preview)",
                        ("metadata", "labels"), resource=first.resource)
    for svc, selected in bg.public:
        colours = sorted({bg.colour_of(w) or "" for w in selected})
        if len(colours) > 1 or COLOR not in svc.spec.get("selector", {}):
            names = ", ".join(sorted(f"{w.resource.name} ({bg.colour_of(w)})" for w in selected))
            yield Violation(f"Service {svc.name} selects {len(colours)} colour(s) ({names}); "
                            f"the public Service must select exactly one: add {COLOR}: "
                            f"<active colour> to its selector", ("spec", "selector"),
                            resource=svc)
    if len(bg.active) > 1:
        svc = bg.public[0][0]
        yield Violation(f"the public Services select different colours "
                        f"({', '.join(sorted(bg.active))}): one colour is active at a time",
                        ("spec", "selector", COLOR), resource=svc)


RULE = Rule(
    id="bluegreen-public-one-color", severity=CRITICAL, category="cross-resource",
    scope=OVERLAY,
    title="The public Service of a blue-green pair selects exactly one colour",
    rationale="Blue-green means all public traffic goes to one colour and the switch is "
              "atomic; a Service selecting both colours mixes the old and the new release "
              "in proportion to their pod counts, and a rollback no longer rolls back.",
    remediation="Select `color: <active>` in the public Service (components/blue-green sets "
                "it from the overlay's bluegreen.yaml); label only the preview Service "
                "`kustodian.io/bluegreen-role: preview`.",
    check=check)
