"""service-account-token: API tokens are not mounted unless the pod opts in."""

from __future__ import annotations

from kustodian.rules.catalog._common import MEDIUM, Rule, Violation


def check(w, ctx):
    value = w.pod_spec.get("automountServiceAccountToken")
    if value is not None or w.partial:
        return  # false, an explicit opt-in (true), or left to the operator
    sa_name = w.pod_spec.get("serviceAccountName") or w.pod_spec.get(
        "serviceAccount") or "default"
    sa = ctx.find("ServiceAccount", w.resource.namespace, str(sa_name))
    if sa is not None and sa.obj.get("automountServiceAccountToken") is False:
        return
    yield Violation("the pod mounts a service account token (automountServiceAccountToken is "
                    f"not set, and ServiceAccount {sa_name} does not disable it)",
                    (*w.spec_path, "automountServiceAccountToken"))


RULE = Rule(
    id="service-account-token", severity=MEDIUM, category="secrets",
    title="Service account tokens are mounted only on purpose",
    rationale="A mounted token lets anything that compromises the pod call the Kubernetes "
              "API as its service account. Most workloads never need it.",
    remediation="Set automountServiceAccountToken: false on the pod spec (or on its "
                "ServiceAccount); set it to true explicitly only for pods that call the API.",
    check=check)
