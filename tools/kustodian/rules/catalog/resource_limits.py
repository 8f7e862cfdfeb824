"""resource-limits: CPU and memory limits on every container."""

from __future__ import annotations

from kustodian.rules.catalog._common import MEDIUM, Rule, missing_resources


def check(w, ctx):
    yield from missing_resources(w, "limits", "limit")


RULE = Rule(
    id="resource-limits", severity=MEDIUM, category="reliability",
    title="Containers set CPU and memory limits",
    rationale="Without limits one leaking or spinning container starves its neighbours on "
              "the node; a memory limit turns a leak into a restart of that container only.",
    remediation="Set resources.limits.cpu and resources.limits.memory.",
    check=check)
