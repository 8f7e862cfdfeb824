"""What the blue-green rules share: the colour workloads, the public and preview Services.

A blue-green overlay runs two copies of a workload whose pod template carries the label
`color` (blue|green). A Service selecting colour pods is a *preview* Service when it is
labelled `kustodian.io/bluegreen-role: preview`, else a *public* one; the *active* colours
are the ones the public Services select. None of this applies to overlays without colours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kustodian.resources import Resource, Workload, as_dict, as_list

COLOR = "color"
ROLE_LABEL = "kustodian.io/bluegreen-role"
PREVIEW = "preview"


@dataclass
class BlueGreen:
    colours: dict[str, list[Workload]] = field(default_factory=dict)   # colour -> workloads
    public: list[tuple[Resource, list[Workload]]] = field(default_factory=list)
    preview: list[tuple[Resource, list[Workload]]] = field(default_factory=list)

    @property
    def active(self) -> set[str]:
        return {str(w.pod_labels[COLOR]) for _, selected in self.public for w in selected}

    def colour_of(self, w: Workload) -> str | None:
        value = w.pod_labels.get(COLOR)
        return None if value is None else str(value)


def blue_green(ctx) -> BlueGreen | None:
    """The overlay's blue-green layout, or None when no workload has a colour."""
    colours: dict[str, list[Workload]] = {}
    for w in ctx.workloads:
        if COLOR in w.pod_labels and w.resource.kind not in ("Job", "CronJob", "Pod"):
            colours.setdefault(str(w.pod_labels[COLOR]), []).append(w)
    if not colours:
        return None
    found = BlueGreen(colours)
    for svc in ctx.of_kind("Service"):
        selector = svc.spec.get("selector")
        if not selector:
            continue
        selected = [w for w in ctx.workloads_selected_by(svc, selector, map_style=True)
                    if COLOR in w.pod_labels]
        if not selected:
            continue
        role = found.preview if svc.labels.get(ROLE_LABEL) == PREVIEW else found.public
        role.append((svc, selected))
    return found


def route_services(ctx, route: Resource) -> list[tuple[str | None, str]]:
    """(namespace, name) of each Service a route sends to."""
    out = []
    for rule in as_list(route.spec.get("rules")):
        for ref in as_list(as_dict(rule).get("backendRefs")):
            ref = as_dict(ref)
            if ref.get("kind", "Service") == "Service" and ref.get("group", "") in ("", None):
                out.append((ref.get("namespace") or route.namespace, str(ref.get("name"))))
    return out


def parent_gateways(route: Resource) -> set[tuple[str, str]]:
    """(namespace, name) of each Gateway the route attaches to."""
    out = set()
    for ref in as_list(route.spec.get("parentRefs")):
        ref = as_dict(ref)
        if ref.get("kind", "Gateway") == "Gateway":
            out.add((str(ref.get("namespace") or route.namespace or ""), str(ref.get("name"))))
    return out
