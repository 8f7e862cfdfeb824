"""readiness-probe: long-running containers declare a readiness probe."""

from __future__ import annotations

from kustodian.rules.catalog._common import MEDIUM, Rule, Violation


def check(w, ctx):
    if w.is_batch:
        return
    for c in w.app_containers():
        if not c.spec.get("readinessProbe"):
            yield Violation(f"container {c.name!r} has no readinessProbe",
                            (*c.path, "readinessProbe"), c.name)


RULE = Rule(
    id="readiness-probe", severity=MEDIUM, category="reliability",
    title="Containers have a readiness probe",
    rationale="Without a readiness probe a pod receives traffic as soon as it starts and "
              "during shutdown; rollouts cannot wait for the new version to be ready. Not "
              "required for Jobs and CronJobs.",
    remediation="Add readinessProbe (e.g. httpGet on /readyz of the named port).",
    check=check)
