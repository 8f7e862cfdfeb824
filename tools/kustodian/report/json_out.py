"""`--format json`: {"findings": [...], "exemptions": [...], "summary": {...}}."""

from __future__ import annotations

import json

from kustodian.model import Report, Severity


def to_json(report: Report, fail_on: Severity) -> str:
    from kustodian.report import summary

    data = {"findings": [f.to_json() for f in report.findings],
            "exemptions": [e.to_json() for e in report.exemptions],
            "ignored": [{"rule": rule, "files": count} for rule, count in report.ignored.items()],
            "summary": summary(report, fail_on)}
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
