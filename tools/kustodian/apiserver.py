"""`kustodian check --apiserver`: every target applied to a real kube-apiserver.

Each target's objects are sent with server-side apply (field manager `kustodian`) as a
dry run to a throw-away cluster (kustodian.cluster) with the upstream CRDs installed. The
Namespaces (and CRDs) a target renders are applied for real first, since namespaced objects
need them and PodSecurity admission reads their labels. Every rejection cause and every
warning becomes a finding at the source line of the field it names (the pipeline's source
map), like any other finding.

Pull-request mode: the base revision's render of a target is applied for real first and the
head's render is dry-run on top of it, so changes the API server refuses on an update
(immutable fields) are findings too (`immutable-field-change`); the base objects are deleted
again before the next target. Findings the base itself gets are put into the base report,
so a problem the change did not introduce is `unchanged`, not `new`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kustodian.model import Finding
from kustodian.resources import Resource
from kustodian.rules.meta import APISERVER_REJECTED, APISERVER_WARNING, IMMUTABLE_FIELD_CHANGE

CLUSTER_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_FIRST = ("Namespace", "CustomResourceDefinition")    # applied for real, before the rest
_IMMUTABLE = re.compile(
    r"field is immutable|may not change once set|is immutable|updates to statefulset spec "
    r"for fields other than|cannot be changed|may not be changed", re.I)
_FIELD_PREFIX = re.compile(r"^((?:metadata|spec|data|stringData)(?:\.[\w\-/]+|\[[^\]]*\])*)"
                           r":\s+(.*)$", re.S)
_CONTAINER = re.compile(r'container "([^"]+)"')
_MAX_MESSAGE = 600


@dataclass
class ApiserverCheck:
    """What `--apiserver` runs against: a started cluster, or one started on first use and
    stopped by close(). PR mode: `base` maps a target's display path to its base render, and
    the base's own findings go to `base_findings`."""

    cluster: Any = None
    base: dict[str, str] | None = None
    base_findings: list[Finding] | None = None
    _owned: Any = None


    def kube(self, kinds: set[tuple[str, str]] | None = None) -> Any:
        """The client; with `kinds` ((group, kind) pairs), the upstream CRDs of those kinds
        are installed first (a cluster started here starts without any: installing all of
        them costs the API server a minute of CPU on a small machine)."""
        from kustodian.cluster import Cluster, crd_files

        if self.cluster is None:
            self._owned = self.cluster = Cluster(crds=()).start()
        wanted = {k for k in kinds or () if k[0] and "." in k[0]} - self.cluster.crd_kinds
        if wanted:    # (kinds no upstream CRD defines stay wanted: their files are few)
            self.cluster.install_crds(crd_files(), kinds=wanted)
        return self.cluster.kube

    def close(self) -> None:
        if self._owned is not None:
            self._owned.stop()
            self._owned = self.cluster = None


@dataclass
class _Target:
    """One target's resources and how to place and filter its findings."""

    display: str
    env: str | None
    resources: list[Resource]
    locate: Callable[[Resource, tuple], tuple[str | None, int | None]]
    show: Callable[[str | None], str | None]
    exempted: Callable[[Resource, str, str | None], bool]
    severity: Callable[[Any], Any]             # rule -> severity, or None when disabled
    found: list[Finding] = field(default_factory=list)


def check_target(check: ApiserverCheck, target: _Target) -> list[Finding]:
    """Findings of one target (PR mode: base applied first, then removed again)."""
    kube = check.kube()
    by_identity = {_identity(r.obj): r for r in target.resources}
    applied: list[dict] = []
    if check.base and target.display in check.base:
        applied = _apply_base(check, kube, target, check.base[target.display], by_identity)
    existing = {_identity(o): o for o in applied}
    try:
        for r in sorted(target.resources, key=lambda r: r.kind not in _FIRST):
            first = r.kind in _FIRST
            answer = kube.apply(r.obj, dry_run=not first, force=first)
            if first and answer.ok and r.kind == "CustomResourceDefinition":
                kube.resource_types(refresh=True)
            _findings(target, r, answer, existing.get(_identity(r.obj)))
    finally:
        for obj in reversed(applied):
            if obj.get("kind") not in _FIRST:
                kube.delete(obj)
    return target.found


def _apply_base(check: ApiserverCheck, kube: Any, target: _Target, text: str,
                by_identity: dict[tuple, Resource]) -> list[dict]:
    """Apply the base render for real; its findings go to the base report."""
    from kustodian.yamlio import load_documents

    objects = [d for _, d in load_documents(text, target.display, strict=False)
               if isinstance(d, dict)]
    applied = []
    for obj in sorted(objects, key=lambda o: o.get("kind") not in _FIRST):
        answer = kube.apply(obj, dry_run=False, force=True)
        if answer.ok:
            applied.append(obj)
        if check.base_findings is not None:
            head = by_identity.get(_identity(obj))
            if head is not None:   # placed like the head's, so an unchanged one matches
                shadow = _Target(target.display, target.env, [], target.locate, target.show,
                                 target.exempted, target.severity)
                _findings(shadow, head, answer, None)
                check.base_findings.extend(shadow.found)
    return applied


def _ensure_namespaces(kube: Any, names: Iterable[str]) -> None:
    for name in names:
        if name not in CLUSTER_NAMESPACES:
            kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                       dry_run=False, force=True)


def _identity(obj: dict) -> tuple:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    return group, obj.get("kind"), meta.get("namespace") or None, meta.get("name")


def _findings(target: _Target, r: Resource, answer: Any, base: dict | None) -> None:
    """The findings of one answer; `base`: the base revision's object when it was applied
    first (PR mode), so a refused update is an immutable-field-change."""
    existed = base is not None
    if answer.ok:
        for warning in dict.fromkeys(answer.warnings):
            path, container = _warning_place(r, warning)
            if path and container is None:
                path = _source_path(target, r, path, None, warning)
            _add(target, r, APISERVER_WARNING, warning, path, container)
        return
    body = answer.body if isinstance(answer.body, dict) else {}
    message = str(body.get("message") or answer.body or f"HTTP {answer.status}")
    causes = ((body.get("details") or {}).get("causes") or []) if body else []
    seen = set()
    for cause in causes:
        text = str(cause.get("message") or "")
        place = str(cause.get("field") or "").lstrip(".")
        if (place, text) in seen or not (place or text):
            continue
        seen.add((place, text))
        immutable = existed and bool(_IMMUTABLE.search(text))
        rule = IMMUTABLE_FIELD_CHANGE if immutable else APISERVER_REJECTED
        shown = f"{place}: {text}" if place and not text.startswith(place) else text
        path = _source_path(target, r, parse_dotted(place) if place else (),
                            base if immutable else None, text)
        _add(target, r, rule, shown, path, None)
    if not seen:
        rule = (IMMUTABLE_FIELD_CHANGE if existed and _IMMUTABLE.search(message)
                else APISERVER_REJECTED)
        _add(target, r, rule, message, (), None)


def _warning_place(r: Resource, warning: str) -> tuple[tuple, str | None]:
    """The field a warning names (`spec....: text`), else the container it names."""
    match = _FIELD_PREFIX.match(warning)
    if match:
        return parse_dotted(match.group(1)), None
    container = _CONTAINER.search(warning)
    w = r.workload
    if w is not None:
        if container:
            for c in w.containers():
                if c.name == container.group(1):
                    return c.path, c.name
        return w.spec_path, None
    return (), None


# fields the API server names by a form the manifests rarely write: the one they do write
_ALIASES = {("spec", "clusterIPs"): ("spec", "clusterIP"),
            ("spec", "ipFamilies"): ("spec", "ipFamilyPolicy")}


_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


def parse_dotted(place: str) -> tuple:
    """'spec.containers[0].env[name]' (the API server's field notation) -> a path tuple."""
    out: list[str | int] = []
    for name, index in _SEGMENT.findall(place):
        if name:
            out.append(name)
        else:
            index = index.strip("'\"")
            out.append(int(index) if index.isdigit() else index)
    return tuple(out)


def _alias(path: tuple) -> tuple:
    return _ALIASES.get(path[:2], path)


def _source_path(target: _Target, r: Resource, named: tuple, base: dict | None,
                 text: str) -> tuple:
    """The path to report for a field the API server names. For a refused update (`base`
    given): the field the change touched under the named one (`spec` of a StatefulSet: its
    `serviceName`...), skipping the fields the message says may change. Then the named
    field when the source writes it; else the form the manifests usually write (`clusterIP`
    for `clusterIPs[0]`); else the named path (located at its nearest written ancestor)."""
    candidates: list[tuple] = []
    if base is not None and named:
        allowed = set(re.findall(r"'([^']+)'", text.split("other than", 1)[1])
                      if "other than" in text else ())
        root = named
        while root and isinstance(root[-1], int):     # clusterIPs[0]: the list
            root = root[:-1]
        for at in dict.fromkeys((root, _alias(root))):
            candidates += [p for p in _changed(_get(base, at), _get(r.obj, at), at)
                           if len(p) <= len(at) or p[len(at)] not in allowed]
    candidates += [named, _alias(named)]
    for path in dict.fromkeys(candidates):
        if path and _written(target, r, path):
            return path
    return _alias(named)


def _written(target: _Target, r: Resource, path: tuple) -> bool:
    """The source writes `path` itself (locating it does not fall back to an ancestor); an
    item of a list by the list (`clusterIPs: ["None"]` holds its item on the key's line)."""
    while len(path) > 1 and isinstance(path[-1], int):
        path = path[:-1]
    file, line = target.locate(r, path)
    return line is not None and (file, line) != target.locate(r, path[:-1])


_MISSING = object()


def _get(obj: Any, path: tuple) -> Any:
    for seg in path:
        if ((isinstance(seg, int) and isinstance(obj, list) and 0 <= seg < len(obj))
                or (isinstance(seg, str) and isinstance(obj, dict) and seg in obj)):
            obj = obj[seg]
        else:
            return _MISSING
    return obj


def _changed(base: Any, head: Any, at: tuple) -> list[tuple]:
    """Paths (under `at`) of the leaves that differ between two renders of an object, in the
    head's order; a list whose length changed counts as one leaf."""
    if base == head:
        return []
    if isinstance(base, dict) and isinstance(head, dict):
        out: list[tuple] = []
        for key in [*head, *(k for k in base if k not in head)]:
            out += _changed(base.get(key, _MISSING), head.get(key, _MISSING), (*at, key))
        return out
    if isinstance(base, list) and isinstance(head, list) and len(base) == len(head):
        return [p for i, (b, h) in enumerate(zip(base, head, strict=True))
                for p in _changed(b, h, (*at, i))]
    return [at]


def _add(target: _Target, r: Resource, rule: Any, message: str, path: tuple,
         container: str | None) -> None:
    severity = target.severity(rule)
    if severity is None or target.exempted(r, rule.id, container):
        return
    file, line = target.locate(r, path)
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    target.found.append(Finding(
        rule=rule.id, severity=severity, category=rule.category, message=message,
        remediation=rule.remediation, env=target.env, kind=r.kind, name=r.name,
        namespace=r.namespace, container=container, file=target.show(file), line=line,
        overlay=r.overlay, source="apiserver", field_path=tuple(path) or None,
        title=rule.title))


def check_groups(check: ApiserverCheck, groups: Iterable[Any], config: Any,
                 show: Callable[[str | None], str | None]) -> list[Finding]:
    """Findings of every pipeline group (target) in turn."""
    found: list[Finding] = []
    groups = [g for g in groups if g.resources]
    kinds = {_identity(r.obj)[:2] for g in groups for r in g.resources}
    from kustodian.yamlio import load_documents

    for display, text in (check.base or {}).items():
        kinds |= {_identity(d)[:2] for _, d in load_documents(text, display, strict=False)
                  if isinstance(d, dict)}
    _ensure_namespaces(check.kube(kinds), config.apiserver_namespaces)
    for group in groups:
        profile = config.profile(group.target.env)

        def severity(rule: Any, profile: Any = profile) -> Any:
            if rule.id in profile.disable:
                return None
            return profile.severity.get(rule.id, rule.severity)

        evaluator = group.evaluator
        exempted = (evaluator.exempted if evaluator is not None
                    else (lambda _r, _rule, _c: False))
        found.extend(check_target(check, _Target(
            group.target.display, group.target.env, group.resources, group.sourcemap.locate,
            show, exempted, severity)))
    return found
