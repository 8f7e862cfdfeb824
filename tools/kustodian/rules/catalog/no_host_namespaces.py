"""no-host-namespaces: hostNetwork, hostPID and hostIPC stay off."""

from __future__ import annotations

from kustodian.rules.catalog._common import CRITICAL, Rule, Violation


def check(w, ctx):
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if w.pod_spec.get(key) is True:
            yield Violation(f"the pod sets {key}: true", (*w.spec_path, key))


RULE = Rule(
    id="no-host-namespaces", severity=CRITICAL, category="pod-security",
    title="Pods do not share the host's network, PID or IPC namespace",
    rationale="Sharing host namespaces exposes the node's network interfaces, processes and "
              "shared memory to the pod. Forbidden by the baseline profile.",
    remediation="Remove hostNetwork, hostPID and hostIPC from the pod spec.",
    check=check,
    pss=("hostNamespaces",))
