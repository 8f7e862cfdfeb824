"""no-host-path: no hostPath volumes."""

from __future__ import annotations

from kustodian.resources import as_list
from kustodian.rules.catalog._common import HIGH, Rule, Violation


def check(w, ctx):
    for i, vol in enumerate(as_list(w.pod_spec.get("volumes"))):
        if isinstance(vol, dict) and "hostPath" in vol:
            yield Violation(f"volume {vol.get('name')!r} is a hostPath volume",
                            (*w.spec_path, "volumes", i, "hostPath"))


RULE = Rule(
    id="no-host-path", severity=HIGH, category="pod-security",
    title="No hostPath volumes",
    rationale="hostPath volumes mount the node's filesystem into the pod (container runtime "
              "socket, kubelet credentials...). Forbidden by the baseline profile.",
    remediation="Use an emptyDir, configMap, secret, projected or persistentVolumeClaim "
                "volume instead.",
    check=check,
    pss=("hostPathVolumes", "restrictedVolumes"))
