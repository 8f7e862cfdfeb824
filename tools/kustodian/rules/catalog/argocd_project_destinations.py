"""argocd-project-destinations: an AppProject's destinations name clusters and namespaces."""

from __future__ import annotations

from kustodian import argoglob
from kustodian.resources import as_list
from kustodian.rules.catalog._appproject import APPPROJECT, PROBE_HOST, is_appproject
from kustodian.rules.catalog._common import HIGH, RESOURCE, Rule, Violation

SENSITIVE_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "default", "argocd")
PROBE_NAMESPACE = "kustodian-probe"
IN_CLUSTER = "https://kubernetes.default.svc"


def check(r, ctx):
    if not is_appproject(r):
        return
    for i, item in enumerate(as_list(r.spec.get("destinations"))):
        if not isinstance(item, dict):
            continue
        for key in ("server", "name"):
            value = str(item.get(key) or "")
            if value and not value.startswith("!") and argoglob.has_wildcard(value):
                yield Violation(f"AppProject {r.name}: spec.destinations[{i}].{key} {value!r} "
                                "is a pattern; a cluster is named exactly (it matches e.g. "
                                f"{_example(value)})", ("spec", "destinations", i, key))
        namespace = str(item.get("namespace") or "")
        if namespace.startswith("!") or not argoglob.has_wildcard(namespace):
            continue
        server = str(item.get("server") or "")
        server = server if server and not argoglob.has_wildcard(server) else IN_CLUSTER
        hits = [ns for ns in (*SENSITIVE_NAMESPACES, PROBE_NAMESPACE)
                if argoglob.destination_entry_matches(item, server, "", ns)
                and argoglob.destination_permitted(r.spec, server, "", ns)]
        if hits:
            what = "any namespace" if PROBE_NAMESPACE in hits else ", ".join(hits)
            yield Violation(f"AppProject {r.name}: spec.destinations[{i}].namespace "
                            f"{namespace!r} lets Applications deploy to {what}",
                            ("spec", "destinations", i, "namespace"))


def _example(pattern: str) -> str:
    for probe in (f"https://{PROBE_HOST}", "kustodian-probe", IN_CLUSTER + "x",
                  IN_CLUSTER[:-1] + "x"):
        if argoglob.glob_match(pattern, probe):
            return repr(probe)
    return "clusters it was not written for"


RULE = Rule(
    id="argocd-project-destinations", severity=HIGH, category="cluster-security",
    scope=RESOURCE, kinds=APPPROJECT,
    title="AppProject destinations name their clusters and namespaces",
    rationale="Destinations are where the project's Applications may deploy. A glob in a "
              "cluster `server`/`name` (`*`, `?*`, `https://kubernetes.default.sv?`) matches "
              "clusters it was not written for, and a namespace pattern that matches "
              "kube-system, argocd or any namespace lets an Application replace the "
              "cluster's own components. Matched as Argo CD does (globs, `!` denies).",
    remediation="Name the cluster exactly and list the namespaces (or a prefix such as "
                "`agent-*` that matches no system namespace).",
    references=("https://argo-cd.readthedocs.io/en/stable/user-guide/projects/",),
    check=check)
