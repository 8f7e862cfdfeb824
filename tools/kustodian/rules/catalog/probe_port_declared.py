"""probe-port-declared: named probe ports exist on the container."""

from __future__ import annotations

from kustodian.resources import as_dict, as_list
from kustodian.rules.catalog._common import MEDIUM, Rule, Violation

PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def check(w, ctx):
    for c in w.containers():
        names = {p.get("name") for p in as_list(c.spec.get("ports")) if isinstance(p, dict)}
        for probe in PROBES:
            spec = as_dict(c.spec.get(probe))
            for action in ("httpGet", "tcpSocket"):
                port = as_dict(spec.get(action)).get("port")
                if isinstance(port, str) and not port.isdigit() and port not in names:
                    yield Violation(
                        f"container {c.name!r}: {probe} uses port {port!r}, which the "
                        "container does not declare", (*c.path, probe, action, "port"), c.name)


RULE = Rule(
    id="probe-port-declared", severity=MEDIUM, category="reliability",
    title="Named probe ports are declared by the container",
    rationale="A probe on a named port the container does not declare can never succeed: "
              "the pod never becomes ready (readiness) or restarts in a loop (liveness).",
    remediation="Declare the port under containers[].ports with that name, or fix the "
                "probe's port.",
    check=check)
