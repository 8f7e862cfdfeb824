"""drop-all-capabilities: every container drops ALL Linux capabilities."""

from __future__ import annotations

from kustodian.resources import as_dict, as_list
from kustodian.rules.catalog._common import HIGH, Rule, Violation, sc_path


def check(w, ctx):
    if w.is_windows:
        return
    for c in w.containers():
        caps = as_dict(c.security_context.get("capabilities"))
        if "ALL" not in as_list(caps.get("drop")) and not (w.partial and "drop" not in caps):
            path = sc_path(c.path, "capabilities", "drop")
            yield Violation(f"container {c.name!r} does not drop ALL capabilities", path, c.name)


RULE = Rule(
    id="drop-all-capabilities", severity=HIGH, category="pod-security",
    title="Containers drop all Linux capabilities",
    rationale="Container runtimes grant a default set of capabilities (NET_RAW, CHOWN, "
              "SETUID...) that an attacker can use; the restricted profile requires dropping "
              "ALL and adding back only NET_BIND_SERVICE.",
    remediation="Set securityContext.capabilities.drop: [ALL] on every container.",
    check=check,
    pss=("capabilities_restricted",))
