"""namespace-pod-security: a Namespace enforces the env's Pod Security Standard level."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, RESOURCE, Rule, Violation

ENFORCE = "pod-security.kubernetes.io/enforce"
LEVELS = ("privileged", "baseline", "restricted")
REQUIRED = {"prod": "restricted"}      # every other env: at least baseline
DEFAULT_REQUIRED = "baseline"


def required_level(env: str | None) -> str:
    return REQUIRED.get(env or "", DEFAULT_REQUIRED)


def check(r, ctx):
    wanted = required_level(ctx.env)
    value = r.labels.get(ENFORCE)
    if value is None:
        yield Violation(f"Namespace {r.name} has no {ENFORCE} label: the API server admits "
                        f"privileged pods there (env {ctx.env or '-'} wants {wanted})",
                        ("metadata", "labels") if r.labels else ("metadata",))
        return
    level = str(value)
    if level not in LEVELS:
        yield Violation(f"Namespace {r.name}: {ENFORCE}={level!r} is not a Pod Security "
                        f"level ({', '.join(LEVELS)})", ("metadata", "labels", ENFORCE))
    elif LEVELS.index(level) < LEVELS.index(wanted):
        yield Violation(f"Namespace {r.name} enforces {level}, weaker than {wanted} which env "
                        f"{ctx.env or '-'} requires", ("metadata", "labels", ENFORCE))


RULE = Rule(
    id="namespace-pod-security", severity=HIGH, category="cluster-security", scope=RESOURCE,
    kinds=frozenset({"Namespace"}),
    title="Namespaces enforce the environment's Pod Security level",
    rationale="The pod-security.kubernetes.io/enforce label is the cluster's own guard rail "
              "against privileged pods, independent of this gate. Lowering it (or dropping "
              "it) lets anything that reaches the namespace run privileged. prod requires "
              "restricted, every other environment at least baseline.",
    remediation="Set pod-security.kubernetes.io/enforce: restricted (prod) or at least "
                "baseline, and fix the workloads that the level rejects instead.",
    references=("https://kubernetes.io/docs/concepts/security/pod-security-admission/",),
    check=check)
