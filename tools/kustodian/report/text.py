"""`--format text`: findings grouped by environment, then by source file (colour on a TTY).
A finding rendered identically in several targets (a base line every overlay reads) is shown
once, under all its envs, with the targets it reaches."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import click

from kustodian.model import Finding, Report, Severity, group_by_source

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
    # one entry per source line, whichever targets render it (JSON/SARIF/JUnit keep them all)
    groups = sorted(group_by_source(report.findings),
                    key=lambda g: (", ".join(sorted(g.envs)) or "~", g.first.file or "~",
                                   g.first.line or 0, g.first.rule))
    for envs, env_group in groupby(groups, key=lambda g: ", ".join(sorted(g.envs))):
        lines.append(paint(_BOLD, f"== env: {envs or '(none)'}"))
        for file, file_group in groupby(env_group, key=lambda g: g.first.file):
            lines.append(paint(_BOLD, f"  {file or '(no source file)'}"))
            for group in file_group:
                f = group.first
                where = f"{file}:{f.line}" if file and f.line else (file or "-")
                sev = paint(_STYLES.get(f.severity, {}), f"{f.severity!s:8}")
                lines.append(f"    {where}  {sev} {f.rule}  {_identity(f)}")
                lines.append(f"      {f.message}")
                note = group.targets_note()
                via = f" (rendered from {f.overlay})" if f.overlay and not note else ""
                if note:
                    lines.append(paint(_DIM, f"      {note}"))
                if f.application:
                    via += f" (Application {f.application})"
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
    if any(t.get("applications") for t in report.targets):   # Argo CD in play
        lines.append(paint(_BOLD, "== targets"))
        for t in report.targets:
            apps = t.get("applications") or []
            via = f"  Application {', '.join(apps)}" if apps else "  (no Application)"
            lines.append(f"  {t['target']}  [{t.get('env') or 'no env'}]{via}")
    if report.ignored:
        lines.append(paint(_BOLD, "== ignored by the repository config"))
        lines.extend(f"  {rule}: {count} file(s)" for rule, count in report.ignored.items())
    for err in report.errors:
        lines.append(paint(_STYLES[Severity.CRITICAL], f"error: {err}"))
    failing = sum(1 for f in report.findings if f.severity >= fail_on)
    counts = ", ".join(f"{n} {s}" for s in reversed(Severity)
                       if (n := sum(1 for f in report.findings if f.severity == s)))
    verdict = "FAIL" if failing or report.errors else "PASS"
    distinct = len(groups)
    shown = (f", shown once per source line: {distinct}" if distinct < len(report.findings)
             else "")
    lines.append(
        f"{verdict}: {len(report.findings)} finding(s){' (' + counts + ')' if counts else ''}"
        f"{shown}"
        f", {failing} at or above {fail_on}, {len(report.exemptions)} exemption(s), "
        f"{len(report.errors)} error(s); {report.resources} resource(s) in "
        f"{len(report.overlays)} target(s)")
    return "\n".join(lines) + "\n"
