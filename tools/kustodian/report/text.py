"""`--format text`: findings grouped by environment, then by source file (colour on a TTY)."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import click

from kustodian.model import Finding, Report, Severity

_STYLES: dict[Severity, dict[str, Any]] = {
    Severity.CRITICAL: {"fg": "red", "bold": True}, Severity.HIGH: {"fg": "red"},
    Severity.MEDIUM: {"fg": "yellow"}, Severity.LOW: {"fg": "cyan"}, Severity.INFO: {"dim": True}}
_BOLD: dict[str, Any] = {"bold": True}
_DIM: dict[str, Any] = {"dim": True}


def _identity(f: Finding) -> str:
    ns = f"{f.namespace}/" if f.namespace else ""
    text = f"{f.kind or '?'} {ns}{f.name or '?'}"
    if f.container:
        text += f" [container {f.container}]"
    return text


def to_text(report: Report, fail_on: Severity, *, color: bool = False) -> str:
    def paint(style: dict[str, Any], text: str) -> str:
        return click.style(text, **style) if color else text

    lines: list[str] = []
    findings = sorted(report.findings, key=lambda f: (f.env or "~", f.file or "~",
                                                      f.line or 0, f.rule))
    for env, env_group in groupby(findings, key=lambda f: f.env):
        lines.append(paint(_BOLD, f"== env: {env or '(none)'}"))
        for file, file_group in groupby(env_group, key=lambda f: f.file):
            lines.append(paint(_BOLD, f"  {file or '(no source file)'}"))
            for f in file_group:
                where = f"{file}:{f.line}" if file and f.line else (file or "-")
                sev = paint(_STYLES.get(f.severity, {}), f"{f.severity!s:8}")
                lines.append(f"    {where}  {sev} {f.rule}  {_identity(f)}")
                lines.append(f"      {f.message}")
                via = f" (rendered from {f.overlay})" if f.overlay else ""
                if f.field_path:
                    lines.append(paint(_DIM, f"      field: {f.field}{via}"))
                if f.remediation:
                    lines.append(paint(_DIM, f"      fix: {f.remediation}"))
    if report.exemptions:
        lines.append(paint(_BOLD, "== exemptions"))
        for e in report.exemptions:
            where = f"{e.file}:{e.line}" if e.file else "-"
            target = f"{e.kind} {e.namespace + '/' if e.namespace else ''}{e.name}"
            if e.container:
                target += f" [container {e.container}]"
            until = f", expires {e.expires}" if e.expires else ""
            env = f"[{e.env}] " if e.env else ""
            if e.overlay:
                env = f"[{e.env + ': ' if e.env else ''}{e.overlay}] "
            lines.append(f"  {where}  {env}{e.rule} on {target}: {e.reason} ({e.status}, "
                         f"suppressed {e.suppressed}{until})")
    for err in report.errors:
        lines.append(paint(_STYLES[Severity.CRITICAL], f"error: {err}"))
    failing = sum(1 for f in report.findings if f.severity >= fail_on)
    counts = ", ".join(f"{n} {s}" for s in reversed(Severity)
                       if (n := sum(1 for f in report.findings if f.severity == s)))
    verdict = "FAIL" if failing or report.errors else "PASS"
    lines.append(
        f"{verdict}: {len(report.findings)} finding(s){' (' + counts + ')' if counts else ''}"
        f", {failing} at or above {fail_on}, {len(report.exemptions)} exemption(s), "
        f"{len(report.errors)} error(s); {report.resources} resource(s) in "
        f"{len(report.overlays)} target(s)")
    return "\n".join(lines) + "\n"
