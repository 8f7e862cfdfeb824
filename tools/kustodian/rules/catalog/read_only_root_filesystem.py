"""read-only-root-filesystem: containers mount their root filesystem read-only."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, Rule, Violation, fmt, sc_path


def check(w, ctx):
    for c in w.containers():
        value = c.security_context.get("readOnlyRootFilesystem")
        if value is not True and not (value is None and w.partial):   # operator default
            state = "is not set" if value is None else f"is {fmt(value)}"
            yield Violation(f"container {c.name!r}: readOnlyRootFilesystem {state}",
                            sc_path(c.path, "readOnlyRootFilesystem"), c.name)


RULE = Rule(
    id="read-only-root-filesystem", severity=HIGH, category="pod-security",
    title="Containers have a read-only root filesystem",
    rationale="A writable root filesystem lets an intruder drop tools and persist changes; "
              "writable paths should be explicit emptyDir volumes.",
    remediation="Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir at "
                "each path the process writes to (e.g. /tmp).",
    check=check)
