"""The policy gate around a release: the check `kustodian check` runs, before and after the
change, in this process; a finding is added when its fingerprint (`Finding.fingerprint`, the
identity PR mode, the reports and the exemptions use) was not there before."""

from __future__ import annotations

from dataclasses import dataclass

from kustodian.errors import KustodianError
from kustodian.model import Finding, Report
from kustodian.release.config import ReleaseConfig


@dataclass
class CheckResult:
    """The check of the overlays a change touches, on one side of the change."""

    report: Report
    overlays: list[str]

    @property
    def findings(self) -> list[Finding]:
        return self.report.findings


def run_check(config: ReleaseConfig, overlays: list[str]) -> CheckResult:
    """The check of `overlays` (repository-relative dirs) in the repository, with the
    repository's configuration and policies; an overlay that cannot be evaluated is an
    error naming it."""
    from kustodian.pipeline import CheckOptions
    from kustodian.pipeline import run_check as check

    what = ", ".join(overlays)
    hint = "fix the overlay, or pass --no-check to skip the policy gate"
    try:
        report = check(config.root, [str(config.root / o) for o in overlays], CheckOptions(),
                       config.repo)
    except KustodianError as exc:
        where = f"{exc.file}: " if exc.file else ""
        raise KustodianError(f"kustodian check could not evaluate {what}: {where}"
                             f"{exc.message}", hint=exc.hint or hint) from None
    if report.errors:
        raise KustodianError(f"kustodian check could not evaluate {what}: "
                             f"{report.errors[0]}", hint=hint)
    return CheckResult(report, overlays)


def added_findings(before: CheckResult, after: CheckResult) -> list[Finding]:
    """The findings of `after` that `before` did not have (counted by fingerprint)."""
    from kustodian.prmode.classify import classify

    marked, _ = classify(after.report, before.report)
    return [f for f in marked.findings if f.status == "new"]


def describe(finding: Finding) -> str:
    """One line: severity, rule, resource, message, source location."""
    where = f"{finding.file}:{finding.line}" if finding.file else ""
    what = "/".join(str(v) for v in (finding.kind, finding.name) if v)
    return (f"[{finding.severity}] {finding.rule} {what}: {finding.message} {where}").rstrip()
