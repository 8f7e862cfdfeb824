"""Rendered resources and the pod-bearing view of workloads (pod spec, containers, contexts)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

ORIGIN_ANNOTATION = "config.kubernetes.io/origin"

# kind -> path from the resource root to the pod template (metadata + spec live under it)
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
    "Pod": (),
}
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

    @cached_property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion") or "")

    @cached_property
    def metadata(self) -> dict[str, Any]:
        meta = self.obj.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @cached_property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @cached_property
    def namespace(self) -> str | None:
        ns = self.metadata.get("namespace")
        return str(ns) if ns else None

    @cached_property
    def labels(self) -> dict[str, str]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, dict) else {}

    @cached_property
    def annotations(self) -> dict[str, str]:
        ann = self.metadata.get("annotations")
        return ann if isinstance(ann, dict) else {}

    @cached_property
    def spec(self) -> dict[str, Any]:
        spec = self.obj.get("spec")
        return spec if isinstance(spec, dict) else {}

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
    """A pod-bearing resource: its pod template metadata, pod spec and containers."""

    resource: Resource
    template_path: tuple
    template: dict[str, Any]
    _containers: dict[tuple[str, ...], tuple[ContainerRef, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, resource: Resource) -> Workload | None:
        path = POD_TEMPLATE_PATHS.get(resource.kind)
        if path is None:
            return None
        node: Any = resource.obj
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
        return cls(resource, path, node)

    @property
    def spec_path(self) -> tuple:
        return (*self.template_path, "spec")

    @cached_property
    def pod_spec(self) -> dict[str, Any]:
        spec = self.template.get("spec")
        return spec if isinstance(spec, dict) else {}

    @cached_property
    def template_metadata(self) -> dict[str, Any]:
        meta = self.template.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @cached_property
    def pod_labels(self) -> dict[str, str]:
        labels = self.template_metadata.get("labels")
        return labels if isinstance(labels, dict) else {}

    @cached_property
    def pod_annotations(self) -> dict[str, str]:
        ann = self.template_metadata.get("annotations")
        return ann if isinstance(ann, dict) else {}

    @cached_property
    def pod_security_context(self) -> dict[str, Any]:
        sc = self.pod_spec.get("securityContext")
        return sc if isinstance(sc, dict) else {}

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


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}
