"""Exemption annotations: parse, validate, match violations, count what they suppress.

Syntax (on the resource's metadata or on its pod template's metadata):

    kustodian.io/exempt: |
      <rule-id>: <reason>; expires=YYYY-MM-DD
      <rule-id>: <reason>
    kustodian.io/exempt.<container>: "<rule-id>: <reason>; expires=YYYY-MM-DD"

One exemption per line (commas stay free for the reason). `kustodian.io/exempt` covers the
whole resource, `kustodian.io/exempt.<container>` only findings on that container. An
exemption stops suppressing after its `expires` date (inclusive) and is reported as
`exemption-expired`; a line that does not parse, names an unknown rule or has no reason is
reported as `exemption-malformed`.

Exemptions are governed (the PR author is who writes them): each names one known rule,
must expire within the repository's horizon (`exemptions.max_days`, default 90), one
resource carries at most `exemptions.max_per_resource` of them, and each is declared for
that one resource: in its own manifest or in a patch that reaches only it, never in
`commonAnnotations` or a patch (a Component's, say) that stamps it on several resources.
An exemption that breaks one of these suppresses nothing and is reported as
`exemption-refused` at the line that declares it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from kustodian.config import ExemptionPolicy
from kustodian.resources import Resource

PREFIX = "kustodian.io/exempt"
_LINE = re.compile(r"^\s*(?P<rule>[A-Za-z0-9][A-Za-z0-9._/-]*)\s*:\s*(?P<rest>.*?)\s*$")
_EXPIRES = re.compile(r"^expires\s*=\s*(?P<date>\S+)$")


@dataclass
class Exemption:
    """One parsed exemption line."""

    rule: str
    reason: str
    expires: dt.date | None
    container: str | None        # None: the whole resource
    path: tuple                  # annotation field in the rendered resource
    expired: bool = False
    suppressed: int = 0


@dataclass(frozen=True)
class ExemptionProblem:
    """A malformed or expired exemption, to report as its own finding."""

    rule: str                    # exemption-malformed | exemption-expired | exemption-refused
    message: str
    path: tuple
    container: str | None


REFUSED = "exemption-refused"

Declared = list[tuple[tuple, str, object]]   # (field path, annotation key, value)


def declared(resource: Resource) -> Declared:
    """The exemption annotations on `resource` and on its pod template, as (field path,
    key, value); [] for most resources. Read once per resource: the runner keeps it."""
    out: Declared = []
    sources = [(("metadata", "annotations"), resource.annotations)]
    w = resource.workload
    if w is not None and w.metadata_path != ("metadata",) and w.pod_annotations:
        sources.append(((*w.metadata_path, "annotations"), w.pod_annotations))
    for base_path, values in sources:
        for key, value in values.items():
            if isinstance(key, str) and key.startswith(PREFIX) and (
                    key == PREFIX or key.startswith(PREFIX + ".")):
                out.append(((*base_path, key), key, value))
    return out


def parse(resource: Resource, known_rules: set[str], today: dt.date,
          policy: ExemptionPolicy | None = None, misplaced: dict[tuple, str] | None = None,
          annotations: Declared | None = None
          ) -> tuple[list[Exemption], list[ExemptionProblem]]:
    """Every exemption declared on `resource` (and its pod template), plus the problems;
    exemptions the `policy` refuses are problems, not exemptions. `misplaced` maps the
    annotation paths not declared for this one resource to why (each refused whole).
    `annotations`: `declared(resource)` when the caller has it already."""
    if annotations is None:
        annotations = declared(resource)
    if not annotations:
        return [], []
    policy = policy or ExemptionPolicy()
    misplaced = misplaced or {}
    found, problems = _parse_all(annotations, known_rules, today)
    for path, why in misplaced.items():
        rules = sorted({e.rule for e in found if e.path == path})
        if rules:
            problems = [p for p in problems if p.path != path]
            problems.append(ExemptionProblem(
                REFUSED, f"{path[-1]} ({', '.join(rules)}) {why}", path,
                next(e.container for e in found if e.path == path)))
    found = [e for e in found if e.path not in misplaced]
    horizon = today + dt.timedelta(days=policy.max_days)
    kept: list[Exemption] = []
    for item in found:
        if item.expired:
            kept.append(item)
        elif item.expires is None:
            problems.append(ExemptionProblem(
                REFUSED, f"exemption for {item.rule} has no expires= date; an exemption "
                f"must expire within {policy.max_days} days", item.path, item.container))
        elif item.expires > horizon:
            problems.append(ExemptionProblem(
                REFUSED, f"exemption for {item.rule} expires on {item.expires.isoformat()}, "
                f"more than {policy.max_days} days ahead (at most {horizon.isoformat()})",
                item.path, item.container))
        else:
            kept.append(item)
    if len(found) > policy.max_per_resource:
        problems.append(ExemptionProblem(
            REFUSED, f"{resource.kind} {resource.name} declares {len(found)} exemptions "
            f"({', '.join(sorted({e.rule for e in found}))}); at most "
            f"{policy.max_per_resource} per resource, so none applies", found[0].path, None))
        kept = [item for item in kept if item.expired]
    return kept, problems


def _parse_all(annotations: Declared, known_rules: set[str], today: dt.date
               ) -> tuple[list[Exemption], list[ExemptionProblem]]:
    found: list[Exemption] = []
    problems: list[ExemptionProblem] = []
    for path, key, value in annotations:
        container = key[len(PREFIX) + 1:] or None if key != PREFIX else None
        if not isinstance(value, str) or not value.strip():
            problems.append(ExemptionProblem(
                "exemption-malformed", f"annotation {key} is empty", path, container))
            continue
        for line in value.splitlines():
            if not line.strip():
                continue
            item, problem = _parse_line(line, known_rules, container, path, key)
            if problem is not None:
                problems.append(problem)
                continue
            assert item is not None
            if item.expires is not None and item.expires < today:
                item.expired = True
                problems.append(ExemptionProblem(
                    "exemption-expired", f"exemption for {item.rule} expired on "
                    f"{item.expires.isoformat()} ({key}); the finding is reported again",
                    path, container))
            found.append(item)
    return found, problems


def _parse_line(line: str, known: set[str], container: str | None, path: tuple, key: str
                ) -> tuple[Exemption | None, ExemptionProblem | None]:
    def bad(why: str) -> tuple[None, ExemptionProblem]:
        return None, ExemptionProblem(
            "exemption-malformed", f"{key}: {why} in {line.strip()!r}; expected "
            "'<rule-id>: <reason>; expires=YYYY-MM-DD'", path, container)

    match = _LINE.match(line)
    if not match:
        return bad("no '<rule-id>:' prefix")
    rule, rest = match.group("rule"), match.group("rest")
    if rule not in known:
        return bad(f"unknown rule id {rule!r}")
    parts = [p.strip() for p in rest.split(";")]
    reason, options = parts[0], [p for p in parts[1:] if p]
    if not reason:
        return bad("no reason given")
    expires = None
    for option in options:
        opt = _EXPIRES.match(option)
        if not opt:
            return bad(f"unknown option {option!r}")
        try:
            expires = dt.date.fromisoformat(opt.group("date"))
        except ValueError:
            return bad(f"invalid date {opt.group('date')!r}")
    return Exemption(rule, reason, expires, container, path), None


def matching(exemptions: list[Exemption], rule: str, container: str | None) -> Exemption | None:
    """The active exemption that covers (rule, container), container-specific first."""
    for ex in exemptions:
        if not ex.expired and ex.rule == rule and ex.container is not None \
                and ex.container == container:
            return ex
    for ex in exemptions:
        if not ex.expired and ex.rule == rule and ex.container is None:
            return ex
    return None
