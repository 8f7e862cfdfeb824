"""pod-spread: replicated production workloads spread across nodes/zones."""

from __future__ import annotations

from kustodian.resources import as_dict
from kustodian.rules.catalog._common import MEDIUM, SCALABLE, Rule, Violation


def check(w, ctx):
    if w.resource.kind not in SCALABLE:
        return
    minimum = ctx.min_replicas(w)
    if ctx.hpa_for(w.resource) is None and (minimum is None or minimum <= 1):
        return
    spec = w.pod_spec
    if spec.get("topologySpreadConstraints"):
        return
    anti = as_dict(as_dict(spec.get("affinity")).get("podAntiAffinity"))
    if anti.get("requiredDuringSchedulingIgnoredDuringExecution") or anti.get(
            "preferredDuringSchedulingIgnoredDuringExecution"):
        return
    yield Violation(f"{w.resource.kind} {w.resource.name} has no topologySpreadConstraints "
                    "and no podAntiAffinity", (*w.spec_path, "topologySpreadConstraints"))


RULE = Rule(
    id="pod-spread", severity=MEDIUM, category="reliability", envs=("prod",),
    title="Replicas are spread across nodes or zones",
    rationale="Replicas scheduled on one node or zone go down together; spreading them is "
              "what makes more than one replica worth it.",
    remediation="Add topologySpreadConstraints (topologyKey kubernetes.io/hostname and/or "
                "topology.kubernetes.io/zone) or a podAntiAffinity on the pod labels.",
    check=check)
