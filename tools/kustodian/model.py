"""The data every stage of `kustodian check` hands to the next: findings and the report."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from enum import IntEnum

# A field inside a resource: keys and list indexes from the resource root, e.g.
# ("metadata", "labels", "app.kubernetes.io/name"). Paths stay tuples everywhere (rules,
# schema issues, the source map); `format_path` writes them for people, in reports only.
FieldPath = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def format_path(path: Iterable[str | int] | None) -> str:
    """("spec", "containers", 0, "image") -> "spec.containers[0].image"; keys that are not
    plain names are quoted: ("metadata", "labels", "app.kubernetes.io/name") ->
    'metadata.labels["app.kubernetes.io/name"]'."""
    out = ""
    for seg in path or ():
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _PLAIN_KEY.fullmatch(seg):
            out += f".{seg}" if out else seg
        else:
            out += f"[{json.dumps(seg)}]"
    return out


class Severity(IntEnum):
    """Ordered so that `--fail-on` compares with >=."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of {names}") from None

    def __str__(self) -> str:
        return self.name.lower()


CATEGORIES = ("pod-security", "reliability", "supply-chain", "network", "secrets", "hygiene",
              "cross-resource", "schema", "policy")


@dataclass(frozen=True)
class Finding:
    """One violation, located at the repository file and line that must change."""

    rule: str
    severity: Severity
    category: str
    message: str
    remediation: str = ""
    env: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    container: str | None = None
    file: str | None = None          # repository-relative path of the source to change
    line: int | None = None          # 1-based line in `file`
    overlay: str | None = None       # repository-relative overlay dir it was rendered from
    source: str = "kustodian"        # "kustodian", "schema" or "conftest"
    status: str | None = None        # PR mode: "new", "unchanged" or "fixed"
    field_path: FieldPath | None = None   # the offending field in the rendered resource
    title: str | None = None         # the rule's one-line title
    application: str | None = None   # the Argo CD Application(s) that deploy the target

    def fingerprint(self) -> tuple:
        """Identity across revisions: no line numbers (they move when unrelated lines change),
        and the offending field rather than the message when known (messages quote values, so a
        retagged image without a digest is the same finding, not a new one)."""
        rule, *rest = self.identity()
        return (rule, self.env, *rest)

    def identity(self) -> tuple:
        """`fingerprint` without the env: the same problem at the same source, whichever
        target renders it (a base file shared by every overlay)."""
        return (self.rule, self.kind, self.namespace, self.name, self.container, self.file,
                self.field_path or self.message)

    @property
    def target(self) -> str:
        """The target it was found in: the overlay, else the env, else "-"."""
        return self.overlay or self.env or "-"

    @property
    def field(self) -> str | None:
        """The offending field as people read it (`format_path`)."""
        return format_path(self.field_path) if self.field_path else None

    def to_json(self) -> dict:
        data = {name: getattr(self, name) for name in _FINDING_FIELDS}
        data["severity"] = str(self.severity)
        data["field_path"] = self.field
        return data


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))


@dataclass(frozen=True)
class FindingGroup:
    """Findings identical but for the target they were rendered in (same `identity`, source
    line, severity, message and status): shown once by the text report and the PR summary."""

    findings: tuple[Finding, ...]

    @property
    def first(self) -> Finding:
        return self.findings[0]

    @property
    def targets(self) -> list[str]:
        return list(dict.fromkeys(f.target for f in self.findings))

    @property
    def envs(self) -> list[str]:
        return list(dict.fromkeys(f.env for f in self.findings if f.env))

    def targets_note(self, limit: int = 8) -> str:
        """'in 3 targets: overlays/dev, overlays/prod, ...' ("" for one target)."""
        targets = self.targets
        if len(targets) < 2:
            return ""
        shown = ", ".join(targets[:limit])
        more = f", ... ({len(targets) - limit} more)" if len(targets) > limit else ""
        return f"in {len(targets)} targets: {shown}{more}"


def group_by_source(findings: list[Finding]) -> list[FindingGroup]:
    """`findings` grouped across targets, in first-seen order (JSON, SARIF and JUnit keep
    every finding; the text report and the PR summary show each group once)."""
    groups: dict[tuple, list[Finding]] = {}
    for f in findings:
        key = (f.identity(), f.line, f.severity, f.message, f.status)
        groups.setdefault(key, []).append(f)
    return [FindingGroup(tuple(found)) for found in groups.values()]


@dataclass(frozen=True)
class ExemptionUse:
    """An exemption annotation that suppressed (or failed to suppress) a rule."""

    rule: str
    reason: str
    expires: str | None
    kind: str
    name: str
    namespace: str | None
    container: str | None
    env: str | None
    file: str | None
    line: int | None
    suppressed: int = 0              # how many findings it suppressed
    status: str = "active"           # "active", "unused" (suppressed nothing) or "expired"
    overlay: str | None = None       # the overlay it was rendered from (a base serves several)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    exemptions: list[ExemptionUse] = field(default_factory=list)
    overlays: list[str] = field(default_factory=list)
    resources: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    rendered: dict[str, str] = field(default_factory=dict)   # overlay dir -> rendered YAML
    targets: list[dict] = field(default_factory=list)        # {target, env, application}
    errors: list[str] = field(default_factory=list)          # render/parse errors (exit 2)
    ignored: dict[str, int] = field(default_factory=dict)    # ignore rule -> files it left out
