"""no-node-port: Services are not exposed on every node's ports."""

from __future__ import annotations

from kustodian.rules.catalog._common import MEDIUM, RESOURCE, Rule, Violation


def check(r, ctx):
    if r.spec.get("type") == "NodePort":
        yield Violation(f"Service {r.name} is of type NodePort", ("spec", "type"))


RULE = Rule(
    id="no-node-port", severity=MEDIUM, category="network", scope=RESOURCE,
    kinds=frozenset({"Service"}),
    title="Services are not NodePort",
    rationale="A NodePort opens the port on every node of the cluster, around the Gateway "
              "and its TLS, authentication and rate limits.",
    remediation="Use a ClusterIP Service behind the Gateway/HTTPRoute (or Ingress).",
    check=check)
