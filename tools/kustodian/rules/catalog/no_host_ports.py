"""no-host-ports: containers do not bind host ports."""

from __future__ import annotations

from kustodian.resources import as_list
from kustodian.rules.catalog._common import HIGH, Rule, Violation


def check(w, ctx):
    for c in w.containers():
        for i, port in enumerate(as_list(c.spec.get("ports"))):
            if isinstance(port, dict) and port.get("hostPort") not in (None, 0):
                yield Violation(f"container {c.name!r} binds hostPort {port['hostPort']}",
                                (*c.path, "ports", i, "hostPort"), c.name)


RULE = Rule(
    id="no-host-ports", severity=HIGH, category="pod-security",
    title="Containers do not bind host ports",
    rationale="hostPort bypasses NetworkPolicy-based isolation and pins the pod to nodes "
              "where the port is free. Baseline profile: hostPort must be unset or 0.",
    remediation="Remove ports[].hostPort and expose the port through a Service.",
    check=check,
    pss=("hostPorts",))
