"""resource-requests: CPU and memory requests on every container."""

from __future__ import annotations

from kustodian.rules.catalog._common import MEDIUM, Rule, missing_resources


def check(w, ctx):
    yield from missing_resources(w, "requests", "request")


RULE = Rule(
    id="resource-requests", severity=MEDIUM, category="reliability",
    title="Containers request CPU and memory",
    rationale="The scheduler places pods by their requests; without them pods land on full "
              "nodes, get BestEffort QoS and are evicted first.",
    remediation="Set resources.requests.cpu and resources.requests.memory from observed "
                "usage.",
    check=check)
