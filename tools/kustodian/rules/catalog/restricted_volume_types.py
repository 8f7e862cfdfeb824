"""restricted-volume-types: only the volume types the restricted profile allows."""

from __future__ import annotations

from kustodian.resources import as_list
from kustodian.rules.catalog._common import HIGH, Rule, Violation

ALLOWED = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                     "persistentVolumeClaim", "projected", "secret"})


def check(w, ctx):
    for i, vol in enumerate(as_list(w.pod_spec.get("volumes"))):
        if not isinstance(vol, dict):
            continue
        for key in vol:
            if key == "name" or key in ALLOWED or key == "hostPath":  # hostPath: no-host-path
                continue
            yield Violation(f"volume {vol.get('name')!r} uses the {key} volume type",
                            (*w.spec_path, "volumes", i, key))


RULE = Rule(
    id="restricted-volume-types", severity=HIGH, category="pod-security",
    title="Only restricted-profile volume types",
    rationale="Network and node-backed volume types (nfs, iscsi, gitRepo, ...) bypass "
              "storage access control. Restricted profile: configMap, csi, downwardAPI, "
              "emptyDir, ephemeral, persistentVolumeClaim, projected, secret.",
    remediation="Use a persistentVolumeClaim (or csi/ephemeral) instead of the inline "
                "volume source.",
    check=check,
    pss=("restrictedVolumes",))
