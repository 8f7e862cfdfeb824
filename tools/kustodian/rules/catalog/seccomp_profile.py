"""seccomp-profile: RuntimeDefault or Localhost seccomp for every container."""

from __future__ import annotations

from kustodian.resources import as_dict
from kustodian.rules.catalog._common import HIGH, Rule, Violation, sc_path

ALLOWED = ("RuntimeDefault", "Localhost")


def check(w, ctx):
    if w.is_windows:
        return
    pod_profile = as_dict(w.pod_security_context.get("seccompProfile"))
    pod_type = pod_profile.get("type")
    if pod_profile and pod_type not in ALLOWED:
        yield Violation(f"the pod sets seccompProfile.type: {pod_type}",
                        (*w.spec_path, "securityContext", "seccompProfile", "type"))
    for c in w.containers():
        own = as_dict(c.security_context.get("seccompProfile"))
        if own:
            if own.get("type") not in ALLOWED:
                yield Violation(f"container {c.name!r} sets seccompProfile.type: "
                                f"{own.get('type')}",
                                sc_path(c.path, "seccompProfile", "type"), c.name)
        elif not pod_profile and not w.partial:   # an operator sets its own default
            yield Violation(f"container {c.name!r} has no seccomp profile (none on the pod "
                            "either)", sc_path(c.path, "seccompProfile"), c.name)


RULE = Rule(
    id="seccomp-profile", severity=HIGH, category="pod-security",
    title="A RuntimeDefault (or Localhost) seccomp profile is set",
    rationale="Without a seccomp profile containers run Unconfined and can call every "
              "syscall of the node's kernel; the restricted profile requires RuntimeDefault "
              "or Localhost, on the pod or on every container.",
    remediation="Set securityContext.seccompProfile: {type: RuntimeDefault} on the pod.",
    check=check,
    pss=("seccompProfile_baseline", "seccompProfile_restricted"))
