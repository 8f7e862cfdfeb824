"""no-probe-host: probes and lifecycle hooks never target another host."""

from __future__ import annotations

from kustodian.resources import as_dict
from kustodian.rules.catalog._common import HIGH, Rule, Violation

HANDLERS = (("livenessProbe",), ("readinessProbe",), ("startupProbe",),
            ("lifecycle", "postStart"), ("lifecycle", "preStop"))


def check(w, ctx):
    for c in w.containers():
        for handler_path in HANDLERS:
            handler = c.spec
            for key in handler_path:
                handler = as_dict(handler.get(key))
            for action in ("httpGet", "tcpSocket"):
                host = as_dict(handler.get(action)).get("host")
                if host not in (None, ""):
                    yield Violation(
                        f"container {c.name!r}: {'.'.join(handler_path)}.{action}.host is "
                        f"{host}", (*c.path, *handler_path, action, "host"), c.name)


RULE = Rule(
    id="no-probe-host", severity=HIGH, category="pod-security",
    title="Probes and lifecycle hooks do not set a host",
    rationale="A host in httpGet/tcpSocket probes or lifecycle hooks makes the kubelet send "
              "requests to arbitrary addresses from the node (SSRF). Baseline profile: unset.",
    remediation="Remove the host field; probes then target the pod's own IP.",
    check=check,
    pss=("hostProbesAndHostLifecycle",))
