"""deprecated-api-version: no removed or deprecated API versions."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, RESOURCE, Rule, Violation

REPLACED = {
    ("extensions/v1beta1", "Deployment"): "apps/v1",
    ("extensions/v1beta1", "DaemonSet"): "apps/v1",
    ("extensions/v1beta1", "ReplicaSet"): "apps/v1",
    ("extensions/v1beta1", "Ingress"): "networking.k8s.io/v1",
    ("extensions/v1beta1", "NetworkPolicy"): "networking.k8s.io/v1",
    ("apps/v1beta1", "Deployment"): "apps/v1",
    ("apps/v1beta2", "Deployment"): "apps/v1",
    ("apps/v1beta1", "StatefulSet"): "apps/v1",
    ("apps/v1beta2", "StatefulSet"): "apps/v1",
    ("apps/v1beta2", "DaemonSet"): "apps/v1",
    ("networking.k8s.io/v1beta1", "Ingress"): "networking.k8s.io/v1",
    ("policy/v1beta1", "PodDisruptionBudget"): "policy/v1",
    ("batch/v1beta1", "CronJob"): "batch/v1",
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler"): "autoscaling/v2",
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"): "autoscaling/v2",
    ("rbac.authorization.k8s.io/v1beta1", "Role"): "rbac.authorization.k8s.io/v1",
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"): "rbac.authorization.k8s.io/v1",
    ("rbac.authorization.k8s.io/v1beta1", "RoleBinding"): "rbac.authorization.k8s.io/v1",
    ("rbac.authorization.k8s.io/v1beta1",
     "ClusterRoleBinding"): "rbac.authorization.k8s.io/v1",
    ("gateway.networking.k8s.io/v1alpha2", "HTTPRoute"): "gateway.networking.k8s.io/v1",
    ("gateway.networking.k8s.io/v1beta1", "HTTPRoute"): "gateway.networking.k8s.io/v1",
}


def check(r, ctx):
    new = REPLACED.get((r.api_version, r.kind))
    if new:
        yield Violation(f"{r.kind} {r.name} uses {r.api_version}, removed or deprecated in "
                        f"favour of {new}", ("apiVersion",))


RULE = Rule(
    id="deprecated-api-version", severity=HIGH, category="hygiene", scope=RESOURCE,
    title="No removed or deprecated API versions",
    rationale="Removed API versions fail to apply after a cluster upgrade; deprecated ones "
              "will.",
    remediation="Move the manifest to the replacement apiVersion (and its schema).",
    check=check)
