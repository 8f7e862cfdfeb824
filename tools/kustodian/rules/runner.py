"""Run the rule catalogue over one overlay: profiles, exemptions, source-line mapping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kustodian import exemptions as ex
from kustodian.config import Profile
from kustodian.model import ExemptionUse, Finding, Severity
from kustodian.resources import Resource
from kustodian.rules.base import OVERLAY, RESOURCE, WORKLOAD, Rule, Violation
from kustodian.rules.context import OverlayContext
from kustodian.rules.registry import all_rules, rules_by_id

Locator = Callable[[Resource, tuple], tuple[str | None, int | None]]


def format_path(path: tuple) -> str:
    """('spec', 'containers', 0, 'image') -> 'spec.containers[0].image'."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += ("." if out else "") + (seg if "." not in seg and "/" not in seg
                                            else f"[{seg!r}]")
    return out


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
                 extra_rule_ids: set[str] | frozenset[str] = frozenset()):
        self.ctx = ctx
        self.selection = selection
        self.locate = locate
        self.display = display
        self.today = today or dt.date.today()
        self.known = set(rules_by_id()) | set(extra_rule_ids)   # + the Rego's rule ids
        self._exemptions: dict[int, list[ex.Exemption]] = {}
        self.result = OverlayResult()

    def run(self) -> OverlayResult:
        """Everything at once: exemptions, overlay-wide rules, then per-resource rules."""
        self.prepare()
        self.evaluate(self.ctx.resources)
        return self.result

    def prepare(self) -> None:
        """Parse every resource's exemptions (reporting malformed ones) and run the
        overlay-wide rules, up front, so that `evaluate` can run on slices of the resources,
        in other processes too. Locating a finding is the costly part: an overlay-wide
        finding is located by the slice holding its resource."""
        for r in self.ctx.resources:
            self._exemptions_of(r)
        held = {id(r) for r in self.ctx.resources}
        self._pending: dict[int, list[tuple[Rule, Resource, Violation]]] = {}
        for rule in self.selection.of_scope(OVERLAY):
            for v in rule.check(self.ctx):
                if v.resource is None or self.exempted(v.resource, rule.id, v.container):
                    continue
                if id(v.resource) in held:
                    self._pending.setdefault(id(v.resource), []).append((rule, v.resource, v))
                else:
                    self._add(rule, v.resource, v)

    def evaluate(self, resources: Iterable[Resource]) -> None:
        """Per-resource rules for `resources` (a slice of the context's), and the located
        overlay-wide findings on them; call `prepare` first."""
        workload_rules = self.selection.of_scope(WORKLOAD)
        resource_rules = self.selection.of_scope(RESOURCE)
        for r in resources:
            w = r.workload
            if w is not None:
                for rule in workload_rules:
                    self._emit(rule, r, rule.check(w, self.ctx))
            for rule in resource_rules:
                if rule.kinds is None or r.kind in rule.kinds:
                    self._emit(rule, r, rule.check(r, self.ctx))
            for rule, target, v in self._pending.get(id(r), ()):
                self._add(rule, target, v)

    def suppression_counts(self) -> dict[tuple[int, int], int]:
        """(resource position, exemption position) -> findings suppressed so far."""
        counts: dict[tuple[int, int], int] = {}
        for i, r in enumerate(self.ctx.resources):
            for j, e in enumerate(self._exemptions.get(id(r), [])):
                if e.suppressed:
                    counts[(i, j)] = e.suppressed
        return counts

    def add_suppressions(self, counts: dict[tuple[int, int], int]) -> None:
        """Merge counts that another process's `suppression_counts` measured."""
        for (i, j), n in counts.items():
            self._exemptions[id(self.ctx.resources[i])][j].suppressed += n

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
            found, problems = ex.parse(r, self.known, self.today)
            self._exemptions[key] = found
            meta = rules_by_id()
            selected = {rule.id for rule in self.selection.rules}
            for p in problems:
                if p.rule in selected:
                    self._add(meta[p.rule], r, Violation(p.message, p.path, p.container))
        return self._exemptions[key]

    def _emit(self, rule: Rule, checked: Resource | None, violations: Iterable[Violation]):
        for v in violations:
            target = v.resource if v.resource is not None else checked
            if target is None:
                continue
            if not self.exempted(target, rule.id, v.container):
                self._add(rule, target, v)

    def _add(self, rule: Rule, r: Resource, v: Violation) -> None:
        file, line = self.locate(r, v.path)
        self.result.findings.append(Finding(
            rule=rule.id, severity=self.selection.severity.get(rule.id, rule.severity),
            category=rule.category, message=v.message,
            remediation=v.remediation or rule.remediation, env=self.ctx.env, kind=r.kind,
            name=r.name, namespace=r.namespace, container=v.container,
            file=self.display(file), line=line, overlay=self.ctx.overlay,
            field_path=format_path(v.path) or None, title=rule.title))

    def exemption_uses(self) -> list[ExemptionUse]:
        """Every exemption declared in this overlay, with what it suppressed (call last)."""
        self.result.exemptions = []
        for r in self.ctx.resources:
            for e in self._exemptions.get(id(r), []):
                file, line = self.locate(r, e.path)
                status = "expired" if e.expired else ("active" if e.suppressed else "unused")
                self.result.exemptions.append(ExemptionUse(
                    rule=e.rule, reason=e.reason,
                    expires=e.expires.isoformat() if e.expires else None, kind=r.kind,
                    name=r.name, namespace=r.namespace, container=e.container,
                    env=self.ctx.env, file=self.display(file), line=line,
                    suppressed=e.suppressed, status=status,
                    overlay=self.ctx.overlay))
        return self.result.exemptions
