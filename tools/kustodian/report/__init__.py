"""Output formats of `kustodian check`: text, json, sarif, junit."""

from __future__ import annotations

from kustodian.model import Report, Severity

FORMATS = ("text", "json", "sarif", "junit")


def render_report(report: Report, fmt: str, *, fail_on: Severity, color: bool = False) -> str:
    """The report in one of FORMATS."""
    if fmt == "json":
        from kustodian.report.json_out import to_json

        return to_json(report, fail_on)
    if fmt == "sarif":
        from kustodian.report.sarif import to_sarif

        return to_sarif(report)
    if fmt == "junit":
        from kustodian.report.junit import to_junit

        return to_junit(report)
    from kustodian.report.text import to_text

    return to_text(report, fail_on, color=color)


def summary(report: Report, fail_on: Severity) -> dict:
    """Counts by severity/category/source, and whether the gate fails."""
    by_sev = {str(s): 0 for s in reversed(Severity)}
    by_cat: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for f in report.findings:
        by_sev[str(f.severity)] += 1
        by_cat[f.category] = by_cat.get(f.category, 0) + 1
        by_source[f.source] = by_source.get(f.source, 0) + 1
    failing = sum(1 for f in report.findings if f.severity >= fail_on)
    return {
        "findings": len(report.findings), "by_severity": by_sev,
        "by_category": dict(sorted(by_cat.items())), "by_source": dict(sorted(by_source.items())),
        "exemptions": len(report.exemptions),
        "suppressed": sum(e.suppressed for e in report.exemptions),
        "overlays": report.overlays, "targets": report.targets, "resources": report.resources,
        "errors": report.errors, "fail_on": str(fail_on), "failing": failing,
        "passed": failing == 0 and not report.errors,
        "timings": report.timings,
    }
