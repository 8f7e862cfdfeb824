"""Everything cross-resource rules need about one rendered overlay: indexes and selectors."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from kustodian.resources import Resource, Workload, as_dict, as_list

# Pod Security Standards policy versions: the newest the rules implement ("latest" means it)
PSS_NEWEST = (1, 37)
PSS_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
DEFAULT_KUBERNETES_VERSION = (1, 34)


def parse_version(text: object) -> tuple[int, int] | None:
    """"v1.30" / "1.30" -> (1, 30); "latest" -> PSS_NEWEST; None when not a version."""
    value = str(text or "").strip().lower()
    if value == "latest":
        return PSS_NEWEST
    match = re.fullmatch(r"v?(\d+)\.(\d+)", value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels AND matchExpressions) against labels.

    An empty selector {} matches everything; a null selector matches nothing.
    """
    if selector is None or not isinstance(selector, dict):
        return False
    for key, value in as_dict(selector.get("matchLabels")).items():
        if str(labels.get(key)) != str(value) or key not in labels:
            return False
    for expr in as_list(selector.get("matchExpressions")):
        if not isinstance(expr, dict):
            return False
        key, op = expr.get("key"), expr.get("operator")
        values = {str(v) for v in as_list(expr.get("values"))}
        present = key in labels
        if op == "In" and not (present and str(labels[key]) in values):
            return False
        if op == "NotIn" and present and str(labels[key]) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def map_selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """A Service-style selector (plain map, all pairs must match); empty/None selects nothing."""
    if not isinstance(selector, dict) or not selector:
        return False
    return all(k in labels and str(labels[k]) == str(v) for k, v in selector.items())


@dataclass
class OverlayContext:
    """The resources rendered from one overlay (or one set of plain manifest files)."""

    resources: list[Resource]
    env: str | None = None
    overlay: str | None = None
    kubernetes_version: tuple[int, int] = DEFAULT_KUBERNETES_VERSION
    config: Any = None       # the RepoConfig (root, env mapping), for rules that read the repo
    _by_kind: dict[str, list[Resource]] = field(default_factory=dict, repr=False)
    _selected: dict[tuple, list[Workload]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        by_kind: dict[str, list[Resource]] = defaultdict(list)
        for r in self.resources:
            by_kind[r.kind].append(r)
        self._by_kind = dict(by_kind)

    def of_kind(self, *kinds: str) -> list[Resource]:
        out: list[Resource] = []
        for kind in kinds:
            out.extend(self._by_kind.get(kind, ()))
        return out

    def of_kind_in(self, kind: str, namespace: str | None) -> list[Resource]:
        """Resources of `kind` in `namespace` (None and "" are the same namespace)."""
        return self._by_kind_namespace.get((kind, namespace or ""), [])

    @cached_property
    def _by_kind_namespace(self) -> dict[tuple[str, str], list[Resource]]:
        index: dict[tuple[str, str], list[Resource]] = defaultdict(list)
        for r in self.resources:
            index[(r.kind, r.namespace or "")].append(r)
        return dict(index)

    @cached_property
    def workloads(self) -> list[Workload]:
        """Workloads whose pods are fully described here (not those an operator completes:
        their labels and containers are partly the operator's)."""
        return [w for r in self.resources if (w := r.workload) is not None and not w.partial]

    @staticmethod
    def same_namespace(a: Resource, b: Resource) -> bool:
        return (a.namespace or "") == (b.namespace or "")

    @cached_property
    def _pod_index(self) -> tuple[dict[str, list[Workload]],
                                  dict[tuple[str, str, str], list[Workload]]]:
        """Workloads by namespace, and by (namespace, label key, label value)."""
        by_ns: dict[str, list[Workload]] = defaultdict(list)
        by_label: dict[tuple[str, str, str], list[Workload]] = defaultdict(list)
        for w in self.workloads:
            ns = w.resource.namespace or ""
            by_ns[ns].append(w)
            for key, value in w.pod_labels.items():
                by_label[(ns, str(key), str(value))].append(w)
        return by_ns, by_label

    def workloads_selected_by(self, owner: Resource, selector: Any, *,
                              map_style: bool = False) -> list[Workload]:
        """Workloads in `owner`'s namespace whose pod labels the selector matches."""
        ns = owner.namespace or ""
        key = (ns, repr(selector), map_style)
        cached = self._selected.get(key)
        if cached is None:
            cached = self._select(ns, selector, map_style)
            self._selected[key] = cached
        return cached

    def _select(self, ns: str, selector: Any, map_style: bool) -> list[Workload]:
        match = map_selector_matches if map_style else selector_matches
        by_ns, by_label = self._pod_index
        pairs = (selector if map_style else selector.get("matchLabels")) if isinstance(
            selector, dict) else None
        candidates = by_ns.get(ns, [])
        if isinstance(pairs, dict) and pairs:   # narrow down through the label index
            key, value = next(iter(pairs.items()))
            candidates = by_label.get((ns, str(key), str(value)), [])
        return [w for w in candidates if match(selector, w.pod_labels)]

    def covered_workloads(self, kind: str, selector_field: str) -> set[int]:
        """ids of the workloads selected by at least one `kind` object (same namespace)."""
        covered: set[int] = set()
        for obj in self.of_kind(kind):
            for w in self.workloads_selected_by(obj, obj.spec.get(selector_field)):
                covered.add(id(w))
        return covered

    @cached_property
    def hpa_targets(self) -> dict[tuple[str, str | None, str], Resource]:
        """(kind, namespace, name) of each scaleTargetRef -> the HPA targeting it."""
        out: dict[tuple[str, str | None, str], Resource] = {}
        for hpa in self.of_kind("HorizontalPodAutoscaler"):
            ref = as_dict(hpa.spec.get("scaleTargetRef"))
            if ref.get("kind") and ref.get("name"):
                out[(str(ref["kind"]), hpa.namespace, str(ref["name"]))] = hpa
        return out

    def hpa_for(self, resource: Resource) -> Resource | None:
        return self.hpa_targets.get((resource.kind, resource.namespace, resource.name))

    def min_replicas(self, w: Workload) -> int | None:
        """What a workload runs at least: the HPA's minReplicas (default 1), else replicas."""
        hpa = self.hpa_for(w.resource)
        if hpa is not None:
            value = hpa.spec.get("minReplicas", 1)
            return value if isinstance(value, int) else None
        if w.resource.kind in ("Deployment", "StatefulSet", "ReplicaSet",
                               "ReplicationController"):
            replicas = w.resource.spec.get("replicas", 1)
            return replicas if isinstance(replicas, int) and not isinstance(replicas,
                                                                            bool) else None
        return None

    @cached_property
    def _by_identity(self) -> dict[tuple[str, str, str], Resource]:
        out: dict[tuple[str, str, str], Resource] = {}
        for r in self.resources:
            out.setdefault((r.kind, r.namespace or "", r.name), r)
        return out

    def find(self, kind: str, namespace: str | None, name: str) -> Resource | None:
        return self._by_identity.get((kind, namespace or "", name))

    def pss_version(self, w: Workload) -> tuple[int, int]:
        """The Pod Security policy version a workload is judged by: its Namespace's
        `pod-security.kubernetes.io/enforce-version` label when that Namespace is rendered
        here, else the configured Kubernetes version. Never newer than the configured version
        (a cluster enforces no newer policy than its own: "latest" means it) nor PSS_NEWEST."""
        ns = self.find("Namespace", None, w.resource.namespace or "")
        version = parse_version(ns.labels.get(PSS_VERSION_LABEL)) if ns is not None else None
        return min(version or self.kubernetes_version, self.kubernetes_version, PSS_NEWEST)
