"""The data every stage of `kustodian check` hands to the next: findings and the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import IntEnum


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
    field_path: str | None = None    # the offending field in the rendered resource
    title: str | None = None         # the rule's one-line title

    def fingerprint(self) -> tuple:
        """Identity across revisions: no line numbers (they move when unrelated lines change),
        and the offending field rather than the message when known (messages quote values, so a
        retagged image without a digest is the same finding, not a new one)."""
        return (self.rule, self.env, self.kind, self.namespace, self.name, self.container,
                self.file, self.field_path or self.message)

    def to_json(self) -> dict:
        data = {name: getattr(self, name) for name in _FINDING_FIELDS}
        data["severity"] = str(self.severity)
        return data


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))


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
    errors: list[str] = field(default_factory=list)          # render/parse errors (exit 2)
