"""safe-sysctls: pods only set namespaced, safe sysctls."""

from __future__ import annotations

from kustodian.resources import as_list
from kustodian.rules.catalog._common import HIGH, Rule, Violation

# The safe set of the Pod Security Standards, by the policy version that added each name.
_ADDED: dict[tuple[int, int], frozenset[str]] = {
    (1, 0): frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                       "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                       "net.ipv4.ping_group_range"}),
    (1, 27): frozenset({"net.ipv4.ip_local_reserved_ports"}),
    (1, 29): frozenset({"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                        "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}),
    (1, 32): frozenset({"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}),
    (1, 37): frozenset({"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}),
}
SAFE = frozenset().union(*_ADDED.values())   # at the newest policy version


def safe_at(version: tuple[int, int]) -> frozenset[str]:
    """The safe sysctls of Pod Security policy `version`."""
    return frozenset().union(*(names for since, names in _ADDED.items() if since <= version))


def check(w, ctx):
    version = ctx.pss_version(w)
    safe = safe_at(version)
    for i, item in enumerate(as_list(w.pod_security_context.get("sysctls"))):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in safe:
            since = next((f"{v[0]}.{v[1]}" for v, names in _ADDED.items() if name in names),
                         None)
            note = (f" (safe from Pod Security policy {since} on; this pod is judged at "
                    f"{version[0]}.{version[1]})" if since else "")
            yield Violation(f"the pod sets the unsafe sysctl {name}{note}",
                            (*w.spec_path, "securityContext", "sysctls", i, "name"))


RULE = Rule(
    id="safe-sysctls", severity=HIGH, category="pod-security",
    title="Only safe sysctls are set",
    rationale="Sysctls outside the safe, namespaced set change the node's kernel for every "
              "pod on it. Baseline profile lists the allowed names; the list grows with the "
              "policy version (the Namespace's pod-security.kubernetes.io/enforce-version "
              "label, else the configured kubernetes_version).",
    remediation="Remove the sysctl, or use one of (at the newest policy version): "
                + ", ".join(sorted(SAFE)) + ".",
    check=check,
    pss=("sysctls",))
