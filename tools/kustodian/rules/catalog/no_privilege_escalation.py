"""no-privilege-escalation: allowPrivilegeEscalation must be false on every container."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, Rule, Violation, fmt, sc_path


def check(w, ctx):
    if w.is_windows:
        return
    for c in w.containers():
        value = c.security_context.get("allowPrivilegeEscalation")
        if value is not False and not (value is None and w.partial):   # operator default
            state = "is not set" if value is None else f"is {fmt(value)}"
            yield Violation(f"container {c.name!r}: allowPrivilegeEscalation {state}",
                            sc_path(c.path, "allowPrivilegeEscalation"), c.name)


RULE = Rule(
    id="no-privilege-escalation", severity=HIGH, category="pod-security",
    title="Containers cannot gain more privileges than their parent process",
    rationale="Without allowPrivilegeEscalation: false, setuid binaries and file capabilities "
              "can raise a process's privileges (no_new_privs is not set). Restricted profile.",
    remediation="Set securityContext.allowPrivilegeEscalation: false on every container.",
    check=check,
    pss=("allowPrivilegeEscalation",))
