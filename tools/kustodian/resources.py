"""Rendered resources and the pod-bearing view of workloads (pod spec, containers, contexts)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ORIGIN_ANNOTATION = "config.kubernetes.io/origin"



@dataclass(frozen=True)
class PodSpecPath:
    """Where a kind keeps its pod: the pod spec and the pod metadata (labels, annotations),
    as paths from the resource root. `partial`: an operator completes the pod (Prometheus &
    co. merge `containers` into the ones they generate and default the security context), so
    only rules that flag values actually set run on it (`Rule.partial_pods`)."""

    spec: tuple[str, ...]
    metadata: tuple[str, ...]
    partial: bool = False


def _template(*path: str) -> PodSpecPath:
    return PodSpecPath((*path, "spec"), (*path, "metadata"))


# kind -> where its pod is, for the built-in kinds (any API group: apps/v1, batch/v1...)
POD_TEMPLATE_PATHS: dict[str, PodSpecPath] = {
    "Deployment": _template("spec", "template"),
    "StatefulSet": _template("spec", "template"),
    "DaemonSet": _template("spec", "template"),
    "ReplicaSet": _template("spec", "template"),
    "ReplicationController": _template("spec", "template"),
    "Job": _template("spec", "template"),
    "CronJob": _template("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": _template("template"),
    "Pod": _template(),
}
# (API group, kind) -> where its pod is, for custom resources that carry a pod spec
_OPERATOR_POD = PodSpecPath(("spec",), ("spec", "podMetadata"), partial=True)
CUSTOM_POD_PATHS: dict[tuple[str, str], PodSpecPath] = {
    ("monitoring.coreos.com", "Prometheus"): _OPERATOR_POD,
    ("monitoring.coreos.com", "PrometheusAgent"): _OPERATOR_POD,
    ("monitoring.coreos.com", "Alertmanager"): _OPERATOR_POD,
    ("monitoring.coreos.com", "ThanosRuler"): _OPERATOR_POD,
    ("argoproj.io", "Rollout"): _template("spec", "template"),
}
# set per run from the repository config (`pod_kinds:`), see `configure_pod_kinds`
_CONFIGURED: dict[tuple[str, str], PodSpecPath] = {}


def configure_pod_kinds(kinds: dict[tuple[str, str], PodSpecPath]) -> None:
    """The repository's own pod-bearing kinds ((group, kind) -> paths; group "*" for any),
    on top of the built-in ones; call before resources are evaluated."""
    _CONFIGURED.clear()
    _CONFIGURED.update(kinds)


def pod_spec_path(api_version: str, kind: str) -> PodSpecPath | None:
    """Where a resource of this apiVersion/kind keeps its pod, or None."""
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    if _CONFIGURED:
        found = _CONFIGURED.get((group, kind)) or _CONFIGURED.get(("*", kind))
        if found is not None:
            return found
    if group and (group, kind) in CUSTOM_POD_PATHS:
        return CUSTOM_POD_PATHS[(group, kind)]
    return POD_TEMPLATE_PATHS.get(kind)


CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
BATCH_KINDS = frozenset({"Job", "CronJob"})


@dataclass(eq=False)
class Resource:
    """One Kubernetes object as rendered, with where it came from."""

    obj: dict[str, Any]
    file: str | None = None          # absolute path of the file it was read from (plain input)
    doc_index: int = 0               # document index in `file`
    item_index: int | None = None    # index in a `kind: List` document
    origin: dict[str, Any] | None = None   # kustomize origin annotation (parsed)
    overlay: str | None = None       # repository-relative overlay dir
    env: str | None = None
    _workload: Workload | None | bool = field(default=False, repr=False)
    # Views of `obj` that every rule reads, taken once at construction (`obj` is never
    # changed afterwards): plain attributes, read without a descriptor call.
    kind: str = field(init=False, repr=False)
    metadata: dict[str, Any] = field(init=False, repr=False)
    name: str = field(init=False, repr=False)
    namespace: str | None = field(init=False, repr=False)
    labels: dict[str, str] = field(init=False, repr=False)
    annotations: dict[str, str] = field(init=False, repr=False)
    spec: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        obj = self.obj
        self.kind = str(obj.get("kind") or "")
        meta = obj.get("metadata")
        self.metadata = meta = meta if isinstance(meta, dict) else {}
        self.name = str(meta.get("name") or "")
        ns = meta.get("namespace")
        self.namespace = str(ns) if ns else None
        self.labels = as_dict(meta.get("labels"))
        self.annotations = as_dict(meta.get("annotations"))
        self.spec = as_dict(obj.get("spec"))

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion") or "")

    def identity(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"

    @property
    def workload(self) -> Workload | None:
        """The pod view when this kind carries a pod template (cached)."""
        if self._workload is False:
            self._workload = Workload.of(self)
        return self._workload  # type: ignore[return-value]


@dataclass(frozen=True)
class ContainerRef:
    """One container of a pod spec and where it sits."""

    list_name: str        # initContainers | containers | ephemeralContainers
    index: int
    spec: dict[str, Any]
    path: tuple           # path from the resource root

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or f"{self.list_name}[{self.index}]")

    @property
    def security_context(self) -> dict[str, Any]:
        sc = self.spec.get("securityContext")
        return sc if isinstance(sc, dict) else {}


@dataclass
class Workload:
    """A pod-bearing resource: its pod metadata, pod spec and containers."""

    resource: Resource
    spec_path: tuple
    pod_spec: dict[str, Any]
    metadata_path: tuple
    template_metadata: dict[str, Any]
    partial: bool = False          # an operator completes the pod (see `PodSpecPath`)
    _containers: dict[tuple[str, ...], tuple[ContainerRef, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    pod_labels: dict[str, str] = field(init=False, repr=False, compare=False)
    pod_annotations: dict[str, str] = field(init=False, repr=False, compare=False)
    pod_security_context: dict[str, Any] = field(init=False, repr=False, compare=False)

    @classmethod
    def of(cls, resource: Resource) -> Workload | None:
        where = pod_spec_path(resource.api_version, resource.kind)
        if where is None:
            return None
        spec = _at(resource.obj, where.spec)
        if spec is None and isinstance(_at(resource.obj, where.spec[:-1]), dict):
            spec = {}   # a template without a spec yet: labels still count
        if not isinstance(spec, dict):
            return None
        meta = _at(resource.obj, where.metadata)
        return cls(resource, where.spec, spec, where.metadata,
                   meta if isinstance(meta, dict) else {}, where.partial)

    def __post_init__(self) -> None:
        self.pod_labels = as_dict(self.template_metadata.get("labels"))
        self.pod_annotations = as_dict(self.template_metadata.get("annotations"))
        self.pod_security_context = as_dict(self.pod_spec.get("securityContext"))

    @property
    def is_windows(self) -> bool:
        os_ = self.pod_spec.get("os")
        return isinstance(os_, dict) and os_.get("name") == "windows"

    @property
    def is_batch(self) -> bool:
        return self.resource.kind in BATCH_KINDS

    def containers(self, lists: tuple[str, ...] = CONTAINER_LISTS) -> tuple[ContainerRef, ...]:
        """The containers of `lists`, in order (computed once per workload: every rule asks)."""
        found = self._containers.get(lists)
        if found is None:
            found = self._containers[lists] = tuple(self._each_container(lists))
        return found

    def _each_container(self, lists: tuple[str, ...]) -> Iterator[ContainerRef]:
        for list_name in lists:
            items = self.pod_spec.get(list_name)
            if not isinstance(items, list):
                continue
            for i, c in enumerate(items):
                if isinstance(c, dict):
                    yield ContainerRef(list_name, i, c, (*self.spec_path, list_name, i))

    def app_containers(self) -> tuple[ContainerRef, ...]:
        """Regular containers only (probes, ports and the like do not apply to the others)."""
        return self.containers(("containers",))

    def effective(self, c: ContainerRef, key: str) -> tuple[Any, tuple | None]:
        """A securityContext field as Kubernetes applies it: the container's, else the pod's.

        Returns (value, path where it is set) or (None, None) when set nowhere.
        """
        if key in c.security_context:
            return c.security_context[key], (*c.path, "securityContext", key)
        if key in self.pod_security_context:
            return (self.pod_security_context[key],
                    (*self.spec_path, "securityContext", key))
        return None, None

    def replicas(self) -> int | None:
        """spec.replicas for scalable kinds (None when unset or not an int)."""
        value = self.resource.spec.get("replicas")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def _at(node: Any, path: tuple) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}
