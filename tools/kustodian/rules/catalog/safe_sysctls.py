"""safe-sysctls: pods only set namespaced, safe sysctls."""

from __future__ import annotations

from kustodian.resources import as_list
from kustodian.rules.catalog._common import HIGH, Rule, Violation

SAFE = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
})


def check(w, ctx):
    for i, item in enumerate(as_list(w.pod_security_context.get("sysctls"))):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in SAFE:
            yield Violation(f"the pod sets the unsafe sysctl {name}",
                            (*w.spec_path, "securityContext", "sysctls", i, "name"))


RULE = Rule(
    id="safe-sysctls", severity=HIGH, category="pod-security",
    title="Only safe sysctls are set",
    rationale="Sysctls outside the safe, namespaced set change the node's kernel for every "
              "pod on it. Baseline profile lists the allowed names.",
    remediation="Remove the sysctl, or use one of: " + ", ".join(sorted(SAFE)) + ".",
    check=check)
