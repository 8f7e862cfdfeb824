"""liveness-probe: long-running containers declare a liveness probe."""

from __future__ import annotations

from kustodian.rules.catalog._common import MEDIUM, Rule, Violation


def check(w, ctx):
    if w.is_batch:
        return
    for c in w.app_containers():
        if not c.spec.get("livenessProbe"):
            yield Violation(f"container {c.name!r} has no livenessProbe",
                            (*c.path, "livenessProbe"), c.name)


RULE = Rule(
    id="liveness-probe", severity=MEDIUM, category="reliability",
    title="Containers have a liveness probe",
    rationale="Without a liveness probe a hung process keeps its pod Running forever; the "
              "kubelet restarts containers whose liveness probe fails. Not required for Jobs "
              "and CronJobs.",
    remediation="Add livenessProbe (e.g. httpGet on /healthz of the named port) that does not "
                "depend on downstream services.",
    check=check)
