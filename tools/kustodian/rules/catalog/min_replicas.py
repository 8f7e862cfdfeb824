"""min-replicas: production workloads run at least two replicas."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, SCALABLE, Rule, Violation

MINIMUM = 2


def check(w, ctx):
    r = w.resource
    if r.kind not in SCALABLE or w.pod_labels.get("track") == "canary":
        return  # a canary is a partial copy; the stable track carries availability
    hpa = ctx.hpa_for(r)
    if hpa is not None:
        value = hpa.spec.get("minReplicas", 1)
        if isinstance(value, int) and value < MINIMUM:
            yield Violation(f"{r.kind} {r.name} is scaled by HorizontalPodAutoscaler "
                            f"{hpa.name} with minReplicas {value} (< {MINIMUM})",
                            ("spec", "minReplicas"), resource=hpa)
        return
    replicas = r.spec.get("replicas")
    if replicas == 0:
        return  # parked on purpose (idle canary)
    if replicas is None:
        yield Violation(f"{r.kind} {r.name} sets no replicas (defaults to 1) and no "
                        "HorizontalPodAutoscaler scales it", ("spec", "replicas"))
    elif isinstance(replicas, int) and replicas < MINIMUM:
        yield Violation(f"{r.kind} {r.name} runs {replicas} replica(s) (< {MINIMUM})",
                        ("spec", "replicas"))


RULE = Rule(
    id="min-replicas", severity=HIGH, category="reliability", envs=("prod",),
    title="Production workloads run at least two replicas",
    rationale="One replica means downtime on every node drain, eviction or crash. An HPA's "
              "minReplicas counts; replicas: 0 (parked) is allowed, and canary copies "
              "(pod label track: canary) are exempt: the stable track carries availability.",
    remediation="Set spec.replicas >= 2, or an HPA with minReplicas >= 2 (and no replicas).",
    check=check)
