"""Run the rule catalogue over one overlay: profiles, exemptions, source-line mapping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kustodian import exemptions as ex
from kustodian.config import ExemptionPolicy, Profile
from kustodian.model import ExemptionUse, Finding, Severity
from kustodian.resources import Resource
from kustodian.rules.base import OVERLAY, RESOURCE, WORKLOAD, Rule, Violation
from kustodian.rules.context import OverlayContext
from kustodian.rules.registry import all_rules, rules_by_id

Locator = Callable[[Resource, tuple], tuple[str | None, int | None]]
# (file, line, setter or None): where a field is declared (SourceMap.declaration)
Declarer = Callable[[Resource, tuple], tuple[str | None, int | None, Any]]


@dataclass
class Selection:
    """The rules that apply to one env, with their effective severities."""

    rules: list[Rule]
    severity: dict[str, Severity]

    @classmethod
    def for_env(cls, env: str | None, profile: Profile) -> Selection:
        chosen = [r for r in all_rules()
                  if r.id not in profile.disable
                  and (r.applies_to_env(env) or r.id in profile.enable)]
        severity = {r.id: profile.severity.get(r.id, r.severity) for r in all_rules()}
        return cls(chosen, severity)

    def of_scope(self, scope: str) -> list[Rule]:
        return [r for r in self.rules if r.scope == scope]


@dataclass
class OverlayResult:
    findings: list[Finding] = field(default_factory=list)
    exemptions: list[ExemptionUse] = field(default_factory=list)


class Evaluator:
    """Evaluates one overlay context and turns violations into located findings."""

    def __init__(self, ctx: OverlayContext, selection: Selection, locate: Locator,
                 display: Callable[[str | None], str | None], today: dt.date | None = None,
                 extra_rule_ids: set[str] | frozenset[str] = frozenset(),
                 policy: ExemptionPolicy | None = None, declare: Declarer | None = None):
        self.ctx = ctx
        self.policy = policy or ExemptionPolicy()
        self.declare = declare
        self._misplaced: dict[int, dict[tuple, str]] = {}
        self.selection = selection
        self.locate = locate
        self.display = display
        self.today = today or dt.date.today()
        self.known = set(rules_by_id()) | set(extra_rule_ids)   # + the Rego's rule ids
        self._exemptions: dict[int, list[ex.Exemption]] = {}
        self._declared: dict[int, ex.Declared] = {}   # exemption annotations, by resource
        self._problems: dict[int, list[ex.ExemptionProblem]] = {}
        self._pending: dict[int, list[tuple[Rule, Resource, Violation]]] = {}
        self.result = OverlayResult()

    def run(self) -> OverlayResult:
        """Everything at once: exemptions, overlay-wide rules, then per-resource rules."""
        self.prepare()
        self.evaluate(self.ctx.resources)
        return self.result

    def prepare(self) -> None:
        """Run the overlay-wide rules up front, so that `evaluate` can then run on slices of
        the resources, in other processes too. Their findings are checked against exemptions
        and located (the costly part) by the slice holding their resource."""
        self._find_misplaced()
        held = {id(r) for r in self.ctx.resources}
        for rule in self.selection.of_scope(OVERLAY):
            for v in rule.check(self.ctx):
                if v.resource is None:
                    continue
                if id(v.resource) in held:
                    self._pending.setdefault(id(v.resource), []).append((rule, v.resource, v))
                elif not self.exempted(v.resource, rule.id, v.container):
                    self._add(rule, v.resource, v)

    def _find_misplaced(self) -> None:
        """Exemption annotations not declared for their one resource: from commonAnnotations,
        or from a patch that puts them on several resources (why, by resource and path)."""
        if self.declare is None:
            return
        by_setter: dict[tuple[int, str], list[tuple[Resource, tuple, str, int | None]]] = {}
        for r in self.ctx.resources:
            annotations = self._declared[id(r)] = ex.declared(r)
            for path, _, _ in annotations:
                file, line, setter = self.declare(r, path)
                where = f"{self.display(file) or file}:{line or '?'}"
                if setter is None:
                    continue
                if setter.kind == "annotations":
                    self._misplaced.setdefault(id(r), {})[path] = (
                        f"comes from commonAnnotations ({where}), which stamps it on every "
                        "resource of that kustomization")
                elif setter.kind in ("smp", "json6902"):
                    by_setter.setdefault((id(setter), str(path[-1])), []).append(
                        (r, path, where, line))
        for hits in by_setter.values():
            if len(hits) > 1:
                for r, path, where, _ in hits:
                    self._misplaced.setdefault(id(r), {})[path] = (
                        f"comes from a patch ({where}) applied to {len(hits)} resources; "
                        "declare it for the one resource that needs it")

    def evaluate(self, resources: Iterable[Resource]) -> None:
        """Exemption problems, per-resource rules and the overlay-wide findings for
        `resources` (a slice of the context's); call `prepare` first."""
        ctx = self.ctx
        workload_rules = self.selection.of_scope(WORKLOAD)
        resource_rules = self.selection.of_scope(RESOURCE)
        # pods an operator completes (Prometheus...): the Pod Security rules only
        partial_rules = [r for r in workload_rules if r.category == "pod-security"]
        by_kind: dict[str, list[Rule]] = {}   # the resource rules of each kind, in order
        for r in resources:
            self._report_problems(r)
            w = r.workload
            if w is not None:
                for rule in (workload_rules if not w.partial else partial_rules):
                    for v in rule.check(w, ctx):
                        self._violation(rule, r, v)
            kind_rules = by_kind.get(r.kind)
            if kind_rules is None:
                kind_rules = by_kind[r.kind] = [
                    rule for rule in resource_rules if rule.kinds is None or r.kind in rule.kinds]
            for rule in kind_rules:
                for v in rule.check(r, ctx):
                    self._violation(rule, r, v)
            for rule, target, v in self._pending.get(id(r), ()):
                if not self.exempted(target, rule.id, v.container):
                    self._add(rule, target, v)

    # --- merging the work of slices evaluated in other processes ------------------------
    def slice_start(self) -> tuple[set[int], dict[tuple[int, int], int]]:
        """What a slice's changes are measured against (call in the slice's process)."""
        return set(self._exemptions), self._suppression_counts()

    def slice_changes(self, start: tuple[set[int], dict[tuple[int, int], int]]) -> tuple:
        """Non-empty exemption lists parsed since `start` (by resource position) and the
        suppression counts added since then to those parsed before."""
        known, counted = start
        new = {i: parsed for i, r in enumerate(self.ctx.resources)
               if (parsed := self._exemptions.get(id(r))) and id(r) not in known}
        added = {key: n - counted.get(key, 0) for key, n in self._suppression_counts().items()
                 if id(self.ctx.resources[key[0]]) in known}
        return new, added

    def merge_slice(self, changes: tuple) -> None:
        """Take in another process's `slice_changes`."""
        new, added = changes
        for i, parsed in new.items():
            mine = self._exemptions.setdefault(id(self.ctx.resources[i]), parsed)
            if mine is not parsed:
                for exemption, theirs in zip(mine, parsed, strict=True):
                    exemption.suppressed += theirs.suppressed
        for (i, j), n in added.items():
            self._exemptions[id(self.ctx.resources[i])][j].suppressed += n

    def _suppression_counts(self) -> dict[tuple[int, int], int]:
        counts: dict[tuple[int, int], int] = {}
        for i, r in enumerate(self.ctx.resources):
            for j, e in enumerate(self._exemptions.get(id(r), ())):
                if e.suppressed:
                    counts[(i, j)] = e.suppressed
        return counts

    def exempted(self, r: Resource, rule: str, container: str | None) -> bool:
        """True (and counted) when an active exemption on `r` covers this finding; used for
        the Rego's findings too."""
        exemption = ex.matching(self._exemptions_of(r), rule, container)
        if exemption is None:
            return False
        exemption.suppressed += 1
        return True

    def _exemptions_of(self, r: Resource) -> list[ex.Exemption]:
        key = id(r)
        if key not in self._exemptions:
            found, problems = ex.parse(r, self.known, self.today, self.policy,
                                       self._misplaced.get(key), self._declared.get(key))
            self._exemptions[key] = found
            if problems:
                self._problems[key] = problems
        return self._exemptions[key]

    def _report_problems(self, r: Resource) -> None:
        """Findings for `r`'s malformed or expired exemptions (once, by its slice)."""
        self._exemptions_of(r)
        problems = self._problems.pop(id(r), ())
        if problems:
            meta = rules_by_id()
            selected = {rule.id for rule in self.selection.rules}
            for p in problems:
                if p.rule in selected:
                    self._add(meta[p.rule], r, Violation(p.message, p.path, p.container),
                              self._declared_at(r, p.path))

    def _violation(self, rule: Rule, checked: Resource, v: Violation) -> None:
        """A finding for `v` (on the resource it names, else on the checked one), unless an
        exemption covers it."""
        target = v.resource if v.resource is not None else checked
        if not self.exempted(target, rule.id, v.container):
            self._add(rule, target, v)

    def _declared_at(self, r: Resource, path: tuple) -> tuple[str | None, int | None]:
        """Where an annotation is declared (its patch or commonAnnotations line)."""
        if self.declare is None:
            return self.locate(r, path)
        file, line, _ = self.declare(r, path)
        return file, line

    def _add(self, rule: Rule, r: Resource, v: Violation,
             at: tuple[str | None, int | None] | None = None) -> None:
        file, line = at or self.locate(r, v.path)
        self.result.findings.append(Finding(
            rule=rule.id, severity=self.selection.severity.get(rule.id, rule.severity),
            category=rule.category, message=v.message,
            remediation=v.remediation or rule.remediation, env=self.ctx.env, kind=r.kind,
            name=r.name, namespace=r.namespace, container=v.container,
            file=self.display(file), line=line, overlay=self.ctx.overlay,
            field_path=tuple(v.path) or None, title=rule.title))

    def exemption_uses(self) -> list[ExemptionUse]:
        """Every exemption declared in this overlay, with what it suppressed (call last)."""
        self.result.exemptions = []
        for r in self.ctx.resources:
            for e in self._exemptions.get(id(r), []):
                file, line = self._declared_at(r, e.path)
                status = "expired" if e.expired else ("active" if e.suppressed else "unused")
                self.result.exemptions.append(ExemptionUse(
                    rule=e.rule, reason=e.reason,
                    expires=e.expires.isoformat() if e.expires else None, kind=r.kind,
                    name=r.name, namespace=r.namespace, container=e.container,
                    env=self.ctx.env, file=self.display(file), line=line,
                    suppressed=e.suppressed, status=status,
                    overlay=self.ctx.overlay))
        return self.result.exemptions
