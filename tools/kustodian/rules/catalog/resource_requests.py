"""resource-requests: CPU and memory requests on every container."""

from __future__ import annotations

from kustodian.resources import as_dict
from kustodian.rules.catalog._common import MEDIUM, Rule, Violation


def check(w, ctx):
    for c in w.containers(("initContainers", "containers")):
        resources = as_dict(c.spec.get("resources"))
        requests = as_dict(resources.get("requests"))
        missing = [k for k in ("cpu", "memory") if requests.get(k) in (None, "")]
        if missing:
            path = (*c.path, "resources", "requests") if resources else (*c.path, "resources")
            yield Violation(f"container {c.name!r} has no {' and '.join(missing)} request",
                            (*path, missing[0]) if requests else path, c.name)


RULE = Rule(
    id="resource-requests", severity=MEDIUM, category="reliability",
    title="Containers request CPU and memory",
    rationale="The scheduler places pods by their requests; without them pods land on full "
              "nodes, get BestEffort QoS and are evicted first.",
    remediation="Set resources.requests.cpu and resources.requests.memory from observed "
                "usage.",
    check=check)
