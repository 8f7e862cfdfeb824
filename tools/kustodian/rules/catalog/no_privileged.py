"""no-privileged: no privileged containers."""

from __future__ import annotations

from kustodian.rules.catalog._common import CRITICAL, Rule, Violation, sc_path


def check(w, ctx):
    for c in w.containers():
        if c.security_context.get("privileged") is True:
            yield Violation(f"container {c.name!r} is privileged",
                            sc_path(c.path, "privileged"), c.name)


RULE = Rule(
    id="no-privileged", severity=CRITICAL, category="pod-security",
    title="No privileged containers",
    rationale="A privileged container has every capability and all host devices: it is root "
              "on the node. Forbidden by the baseline profile.",
    remediation="Remove securityContext.privileged (or set it to false).",
    check=check,
    pss=("privileged",))
