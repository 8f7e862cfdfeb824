"""resource-limits: CPU and memory limits on every container."""

from __future__ import annotations

from kustodian.resources import as_dict
from kustodian.rules.catalog._common import MEDIUM, Rule, Violation


def check(w, ctx):
    for c in w.containers(("initContainers", "containers")):
        resources = as_dict(c.spec.get("resources"))
        limits = as_dict(resources.get("limits"))
        missing = [k for k in ("cpu", "memory") if limits.get(k) in (None, "")]
        if missing:
            path = (*c.path, "resources", "limits") if resources else (*c.path, "resources")
            yield Violation(f"container {c.name!r} has no {' and '.join(missing)} limit",
                            (*path, missing[0]) if limits else path, c.name)


RULE = Rule(
    id="resource-limits", severity=MEDIUM, category="reliability",
    title="Containers set CPU and memory limits",
    rationale="Without limits one leaking or spinning container starves its neighbours on "
              "the node; a memory limit turns a leak into a restart of that container only.",
    remediation="Set resources.limits.cpu and resources.limits.memory.",
    check=check)
