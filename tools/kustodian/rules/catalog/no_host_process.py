"""no-host-process: no Windows HostProcess containers."""

from __future__ import annotations

from kustodian.resources import as_dict
from kustodian.rules.catalog._common import CRITICAL, Rule, Violation, sc_path


def check(w, ctx):
    if as_dict(w.pod_security_context.get("windowsOptions")).get("hostProcess") is True:
        yield Violation("the pod sets windowsOptions.hostProcess: true",
                        (*w.spec_path, "securityContext", "windowsOptions", "hostProcess"))
    for c in w.containers():
        if as_dict(c.security_context.get("windowsOptions")).get("hostProcess") is True:
            yield Violation(f"container {c.name!r} is a Windows HostProcess container",
                            sc_path(c.path, "windowsOptions", "hostProcess"), c.name)


RULE = Rule(
    id="no-host-process", severity=CRITICAL, category="pod-security",
    title="No Windows HostProcess containers",
    rationale="HostProcess containers run directly on the Windows host with full access. "
              "Forbidden by the baseline profile.",
    remediation="Remove windowsOptions.hostProcess (or set it to false).",
    check=check,
    pss=("windowsHostProcess",))
