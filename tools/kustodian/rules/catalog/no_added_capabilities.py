"""no-added-capabilities: only NET_BIND_SERVICE may be added back."""

from __future__ import annotations

from kustodian.resources import as_dict, as_list
from kustodian.rules.catalog._common import HIGH, Rule, Violation, sc_path

ALLOWED = frozenset({"NET_BIND_SERVICE"})


def check(w, ctx):
    if w.is_windows:
        return
    for c in w.containers():
        added = as_list(as_dict(c.security_context.get("capabilities")).get("add"))
        for i, cap in enumerate(added):
            if str(cap) not in ALLOWED:
                yield Violation(f"container {c.name!r} adds capability {cap}",
                                sc_path(c.path, "capabilities", "add", i), c.name)


RULE = Rule(
    id="no-added-capabilities", severity=HIGH, category="pod-security",
    title="No capabilities are added except NET_BIND_SERVICE",
    rationale="Added capabilities (SYS_ADMIN, NET_ADMIN, SYS_PTRACE...) hand kernel "
              "privileges to the container; the restricted profile only allows "
              "NET_BIND_SERVICE.",
    remediation="Remove the capability from securityContext.capabilities.add (bind ports "
                "above 1024, or add only NET_BIND_SERVICE).",
    check=check,
    pss=("capabilities_baseline", "capabilities_restricted"))
