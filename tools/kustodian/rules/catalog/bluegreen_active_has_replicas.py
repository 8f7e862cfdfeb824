"""bluegreen-active-has-replicas: the colour the public Service selects runs pods."""

from __future__ import annotations

from kustodian.rules.catalog._bluegreen import blue_green
from kustodian.rules.catalog._common import CRITICAL, OVERLAY, Rule, Violation


def check(ctx):
    bg = blue_green(ctx)
    if bg is None:
        return
    for colour in sorted(bg.active):
        workloads = bg.colours.get(colour, [])
        # replicas: 0 wins over an HPA: Kubernetes does not autoscale a workload at 0
        sizes = [0 if w.resource.spec.get("replicas") == 0 else ctx.min_replicas(w)
                 for w in workloads]
        if workloads and all(size == 0 for size in sizes):
            w = workloads[0]
            yield Violation(f"the public Service sends every request to colour {colour}, "
                            f"whose {w.resource.kind} {w.resource.name} runs 0 replicas",
                            ("spec", "replicas"), resource=w.resource)


RULE = Rule(
    id="bluegreen-active-has-replicas", severity=CRITICAL, category="cross-resource",
    scope=OVERLAY,
    title="The active colour of a blue-green pair has replicas",
    rationale="Switching the public Service to a colour scaled to 0 (or finishing the wrong "
              "colour) is a full outage: every request finds no endpoint. An HPA does not "
              "help: Kubernetes does not autoscale a workload whose replicas are 0.",
    remediation="Deploy and scale the idle colour first (`kustodian bluegreen deploy`), "
                "switch only to a running colour, and scale down only the idle one.",
    check=check)
