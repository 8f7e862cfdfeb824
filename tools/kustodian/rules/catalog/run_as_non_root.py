"""run-as-non-root: every container must run as a non-root user."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, Rule, Violation, fmt, sc_path


def check(w, ctx):
    if w.pod_spec.get("hostUsers") is False and ctx.pss_version(w) >= (1, 35):
        return   # a user namespace: root in the pod is not root on the node (policy 1.35+)
    if w.pod_security_context.get("runAsUser") == 0:
        yield Violation("the pod sets runAsUser: 0 (root)",
                        (*w.spec_path, "securityContext", "runAsUser"))
    for c in w.containers():
        value, where = w.effective(c, "runAsNonRoot")
        if value is not True and not (where is None and w.partial):   # operator default
            if where is None:
                yield Violation(f"container {c.name!r} does not set runAsNonRoot: true "
                                "(neither in its securityContext nor in the pod's)",
                                sc_path(c.path, "runAsNonRoot"), c.name)
            else:
                yield Violation(f"container {c.name!r} has runAsNonRoot: {fmt(value)}", where,
                                c.name)
        if c.security_context.get("runAsUser") == 0:
            yield Violation(f"container {c.name!r} runs as UID 0 (runAsUser: 0)",
                            sc_path(c.path, "runAsUser"), c.name)


RULE = Rule(
    id="run-as-non-root", severity=HIGH, category="pod-security",
    title="Containers run as a non-root user",
    rationale="A process running as root inside a container is root on the node if it "
              "escapes; runAsNonRoot makes the kubelet refuse to start an image whose user is "
              "root, and runAsUser 0 is never allowed (Pod Security Standards, restricted).",
    remediation="Set securityContext.runAsNonRoot: true on the pod (or every container) and a "
                "non-zero runAsUser such as 10001; never runAsUser: 0.",
    check=check,
    pss=("runAsNonRoot", "runAsUser"))
