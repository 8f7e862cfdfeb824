"""New, fixed and unchanged findings: HEAD's report against the base's, by fingerprint."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from kustodian.model import Finding, Report


def classify(head: Report, base: Report) -> tuple[Report, list[Finding]]:
    """HEAD findings marked new/unchanged (a copy of `head`), and the fixed base findings."""
    remaining = Counter(f.fingerprint() for f in base.findings)
    marked = []
    for finding in head.findings:
        key = finding.fingerprint()
        if remaining[key] > 0:
            remaining[key] -= 1
            marked.append(replace(finding, status="unchanged"))
        else:
            marked.append(replace(finding, status="new"))
    still = Counter(f.fingerprint() for f in head.findings)
    fixed = []
    for finding in base.findings:
        key = finding.fingerprint()
        if still[key] > 0:
            still[key] -= 1
        else:
            fixed.append(replace(finding, status="fixed"))
    report = replace(head, findings=marked, timings=dict(head.timings))
    return report, fixed


