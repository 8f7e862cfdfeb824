"""default-proc-mount: /proc is mounted with the Default (masked) type."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, Rule, Violation, sc_path


def check(w, ctx):
    for c in w.containers():
        value = c.security_context.get("procMount")
        if value not in (None, "Default"):
            yield Violation(f"container {c.name!r} sets procMount: {value}",
                            sc_path(c.path, "procMount"), c.name)


RULE = Rule(
    id="default-proc-mount", severity=HIGH, category="pod-security",
    title="/proc keeps its default masking",
    rationale="procMount: Unmasked exposes kernel information and writable /proc paths the "
              "runtime normally masks. Baseline profile: unset or Default.",
    remediation="Remove securityContext.procMount (or set it to Default).",
    check=check,
    pss=("procMount", "procMount_restricted"))
