"""ingress-backend-exists: Ingress and HTTPRoute backends are Services of the overlay."""

from __future__ import annotations

from kustodian.resources import as_dict, as_list
from kustodian.rules.catalog._common import HIGH, OVERLAY, Rule, Violation


def _service_ports(svc) -> tuple[set, set]:
    ports = [p for p in as_list(svc.spec.get("ports")) if isinstance(p, dict)]
    return {p.get("port") for p in ports}, {p.get("name") for p in ports if p.get("name")}


def _check_port(svc, port: dict, owner, path: tuple):
    numbers, names = _service_ports(svc)
    if "number" in port and port["number"] not in numbers:
        yield Violation(f"{owner.kind} {owner.name}: Service {svc.name} has no port "
                        f"{port['number']}", (*path, "number"), resource=owner)
    if "name" in port and port["name"] not in names:
        yield Violation(f"{owner.kind} {owner.name}: Service {svc.name} has no port named "
                        f"{port['name']!r}", (*path, "name"), resource=owner)


def _ingress(ctx, ing):
    spec = ing.spec
    backends = []
    if "defaultBackend" in spec:
        backends.append((as_dict(spec["defaultBackend"]), ("spec", "defaultBackend")))
    for i, rule in enumerate(as_list(spec.get("rules"))):
        for j, p in enumerate(as_list(as_dict(as_dict(rule).get("http")).get("paths"))):
            backends.append((as_dict(as_dict(p).get("backend")),
                             ("spec", "rules", i, "http", "paths", j, "backend")))
    for backend, path in backends:
        service = as_dict(backend.get("service"))
        if not service:
            continue
        svc = ctx.find("Service", ing.namespace, str(service.get("name")))
        if svc is None:
            yield Violation(f"Ingress {ing.name} routes to Service {service.get('name')}, "
                            "which this overlay does not contain",
                            (*path, "service", "name"), resource=ing)
        else:
            yield from _check_port(svc, as_dict(service.get("port")), ing,
                                   (*path, "service", "port"))


def _route(ctx, route):
    for i, rule in enumerate(as_list(route.spec.get("rules"))):
        for j, ref in enumerate(as_list(as_dict(rule).get("backendRefs"))):
            ref = as_dict(ref)
            if ref.get("group", "") not in ("", "core") or ref.get("kind", "Service") != (
                    "Service"):
                continue
            ns = ref.get("namespace") or route.namespace
            path = ("spec", "rules", i, "backendRefs", j)
            svc = ctx.find("Service", ns, str(ref.get("name")))
            if svc is None:
                yield Violation(f"{route.kind} {route.name} routes to Service {ref.get('name')}"
                                f"{' in ' + str(ns) if ns else ''}, which this overlay does not"
                                " contain", (*path, "name"), resource=route)
            elif "port" in ref and ref["port"] not in _service_ports(svc)[0]:
                yield Violation(f"{route.kind} {route.name}: Service {svc.name} has no port "
                                f"{ref['port']}", (*path, "port"), resource=route)


def check(ctx):
    for ing in ctx.of_kind("Ingress"):
        yield from _ingress(ctx, ing)
    for route in ctx.of_kind("HTTPRoute", "GRPCRoute"):
        yield from _route(ctx, route)


RULE = Rule(
    id="ingress-backend-exists", severity=HIGH, category="cross-resource", scope=OVERLAY,
    title="Ingress and HTTPRoute backends exist",
    rationale="A route to a Service (or port) that is not deployed answers 503/500 for every "
              "request to that path.",
    remediation="Point the backend at a Service of the same overlay (name as rendered, with "
                "prefixes) and at one of its ports.",
    check=check)
