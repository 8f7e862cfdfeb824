"""The pull-request summary in Markdown: counts, new and fixed findings, rendered diffs."""

from __future__ import annotations

from pathlib import Path

from kustodian import textdiff
from kustodian.errors import KustodianError
from kustodian.git import BaseRevision
from kustodian.model import Finding, Report, group_by_source
from kustodian.report import md

MAX_TABLE_ROWS = 100
MAX_DIFF_LINES = 400
MAX_MARKDOWN_CHARS = 60_000


def env_labels(repo_root: Path, overlays: list[str]) -> dict[str, str]:
    try:
        from kustodian.config import load_config

        config = load_config(repo_root)
        return {o: config.env_for(o) or "" for o in overlays}
    except (KustodianError, ImportError, OSError):
        return {o: "" for o in overlays}


# Everything below that comes from the checked tree (paths, names, images, messages, error
# texts) goes through report.md: it renders as text, never as Markdown, HTML or a mention.
_cell = md.text


def _resource(f: Finding) -> str:
    if not f.kind:
        return ""
    ident = f"{f.kind}/{f.namespace + '/' if f.namespace else ''}{f.name or ''}"
    return md.code(f"{ident} [{f.container}]" if f.container else ident)


def _location(f: Finding) -> str:
    if f.file:
        return md.code(f"{f.file}:{f.line}" if f.line else f.file)
    return md.code(f.overlay) if f.overlay else ""


def _table(findings: list[Finding]) -> list[str]:
    """One row per source line (findings identical across targets are grouped, with the
    targets they reach); JSON/SARIF keep every target."""
    rows = ["| severity | rule | env | resource | location | message |",
            "|---|---|---|---|---|---|"]
    groups = sorted(group_by_source(findings), key=lambda g: (
        -int(g.first.severity), g.first.rule, g.first.file or "", g.first.line or 0))
    for g in groups[:MAX_TABLE_ROWS]:
        f = g.first
        envs = _cell(", ".join(g.envs))
        note = g.targets_note()
        where = f"{envs}<br>{_cell(note)}" if note else envs
        rows.append(f"| {_cell(f.severity)} | {md.code(f.rule)} | {where} | "
                    f"{_resource(f)} | {_location(f)} | {_cell(f.message)} |")
    if len(groups) > MAX_TABLE_ROWS:
        rows.append(f"\n_... and {len(groups) - MAX_TABLE_ROWS} more (see the SARIF/JSON "
                    f"output)._")
    return rows


def rendered_diff(overlay: str, before: str, after: str) -> tuple[list[str], int, int]:
    """Unified diff lines of one overlay's rendered YAML, with added/removed line counts
    (textdiff: linear in practice; a diff too large to compute is one note line)."""
    try:
        lines = textdiff.unified(before, after, f"a/{overlay} (base)", f"b/{overlay}")
    except textdiff.DiffUnavailable as exc:
        return [f"# {exc}"], 0, 0
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return lines, added, removed


def render_markdown(base: BaseRevision, changed: set[str], affected: list[str], report: Report,
                    fixed: list[Finding], base_report: Report, envs: dict[str, str],
                    base_problem: str | None = None,
                    sections: list[str] | None = None) -> str:
    """The PR comment: counts, new and fixed findings, rendered-manifest diffs per env;
    `sections` (the gate's own findings' details) come right after the findings."""
    new = [f for f in report.findings if f.status == "new"]
    unchanged = [f for f in report.findings if f.status == "unchanged"]
    out = ["## kustodian: policy gate for this pull request", "",
           f"Compared with {md.code(base.ref, table=False)} (merge base "
           f"{md.code(base.commit[:12], table=False)}): "
           f"{len(changed)} changed file(s), {len(affected)} affected overlay(s)"
           + (": " + ", ".join(md.code(o, table=False) for o in affected)
              if affected else "."), ""]
    if not affected:
        out.append("No overlay reads a changed file, so nothing was rendered or checked.")
        if new:
            out += ["", f"Result: **{len(new)} new finding(s)**.", "",
                    f"### New findings ({len(new)})", "", *_table(new), "", *(sections or [])]
        return "\n".join(out) + "\n"
    verdict = "**no new findings**" if not new else f"**{len(new)} new finding(s)**"
    out += [f"Result: {verdict}.", "", "| new | fixed | unchanged |", "|---|---|---|",
            f"| {len(new)} | {len(fixed)} | {len(unchanged)} |", ""]
    if base_problem:
        out += [f"> The base revision could not be checked, so every finding counts as new: "
                f"{_cell(base_problem)}", ""]
    for error in base_report.errors:
        out += [f"> Base revision: {_cell(error)}", ""]
    for error in report.errors:
        out += [f"> **Error**: {_cell(error)}", ""]
    if new:
        out += [f"### New findings ({len(new)})", "", *_table(new), ""]
    if fixed:
        out += [f"### Fixed findings ({len(fixed)})", "", *_table(fixed), ""]
    out += [*(sections or []), "### Rendered manifest changes", ""]
    body = "\n".join(out)
    budget = MAX_MARKDOWN_CHARS - len(body)
    diffs = _diff_sections(affected, report, base_report, envs, budget)
    return body + "\n" + "\n".join(diffs) + "\n"


def _diff_sections(affected: list[str], report: Report, base_report: Report,
                   envs: dict[str, str], budget: int) -> list[str]:
    by_env: dict[str, list[str]] = {}
    for overlay in affected:
        by_env.setdefault(envs.get(overlay) or "(no env)", []).append(overlay)
    out: list[str] = []
    for env in sorted(by_env):
        out += [f"#### {_cell(env)}", ""]
        for overlay in sorted(by_env[env]):
            before = base_report.rendered.get(overlay, "")
            after = report.rendered.get(overlay, "")
            lines, added, removed = rendered_diff(overlay, before, after)
            if not lines:
                out += [f"- {md.code(overlay, table=False)}: no change in the rendered "
                        "manifests", ""]
                continue
            note = ""
            if len(lines) > MAX_DIFF_LINES:
                note = (f"\n_Diff truncated: {len(lines) - MAX_DIFF_LINES} more lines; run "
                        f"`kustodian check --base-ref <ref>` locally to see all._\n")
                lines = lines[:MAX_DIFF_LINES]
            fence = md.fence(lines)
            block = "\n".join([f"<details><summary><code>{md.attr(overlay)}</code>: +{added} "
                               f"&minus;{removed} lines</summary>", "", f"{fence}diff",
                               *lines, fence, note, "</details>", ""])
            if len(block) > budget:
                block = (f"- {md.code(overlay, table=False)}: +{added} &minus;{removed} lines "
                         f"(diff left out: the comment would exceed GitHub's size limit)\n")
            budget -= len(block)
            out.append(block)
    return out
