"""The pull-request body: what moves, the source diff, the rendered diff, the policy result."""

from __future__ import annotations

from kustodian import textdiff
from kustodian.release.changes import ChangeSet
from kustodian.release.gate import CheckResult, added_findings, describe
from kustodian.report import md

MAX_RENDERED = 60_000


def rendered_diff(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Overlay -> unified diff of its `kustomize build` output (only overlays that changed)."""
    out = {}
    for overlay, old in before.items():
        new = after.get(overlay, "")
        try:
            diff = "".join(line + "\n" for line in textdiff.unified(
                old, new, f"a/{overlay} (rendered)", f"b/{overlay} (rendered)"))
        except textdiff.DiffUnavailable as exc:
            diff = f"# {exc}\n"
        if diff:
            out[overlay] = diff
    return out


def pr_body(changes: ChangeSet, rendered: dict[str, str] | None,
            check_before: CheckResult | None, check_after: CheckResult | None) -> str:
    # images, tags, paths and findings come from the repository: escaped (report.md)
    short = changes.image
    lines = [f"## Release: {md.text(changes.action)} {md.code(short, table=False)} in "
             f"**{md.text(changes.env)}**", ""]
    lines += ["| | |", "|---|---|", f"| environment | {md.code(changes.env)} |"]
    if changes.source_env:
        lines.append(f"| verified in | {md.code(changes.source_env)} |")
    lines += [f"| image | {md.code(changes.image)} |", f"| from | {md.code(changes.before)} |",
              f"| to | {md.code(changes.after)} |", ""]
    lines += ["### Files", *[f"- {md.code(c.rel, table=False)}" for c in changes.files], ""]
    lines += [f"> {md.text(note)}" for note in changes.notes]
    source = changes.diff().rstrip("\n")
    fence = md.fence(source.splitlines())
    lines += ["### Source diff", f"{fence}diff", source, fence, ""]
    lines.append("### Rendered diff (kustomize build, before -> after)")
    if rendered is None:
        lines.append("_not rendered_")
    elif not rendered:
        lines.append("_no rendered change_")
    budget = MAX_RENDERED
    for overlay, diff in (rendered or {}).items():
        text = diff if len(diff) <= budget else diff[:budget] + "\n... (truncated)\n"
        budget = max(0, budget - len(text))
        fence = md.fence(text.splitlines())
        lines += [f"<details><summary><code>{md.attr(overlay)}</code></summary>", "",
                  f"{fence}diff", text.rstrip("\n"), fence, "</details>", ""]
    lines += ["", "### Policy (kustodian check)"]
    if check_before is None or check_after is None:
        lines.append("_not run (--no-check)_")
    else:
        added = added_findings(check_before, check_after)
        lines.append(f"Overlays: "
                     f"{', '.join(md.code(o, table=False) for o in check_after.overlays)}. "
                     f"Findings before: {len(check_before.findings)}, after: "
                     f"{len(check_after.findings)}, added by this change: {len(added)}.")
        lines += [f"- {md.text(describe(f))}" for f in added]
        lines.append("")
        lines.append(":white_check_mark: no new findings" if not added else ":x: new findings")
    return "\n".join(lines).rstrip("\n") + "\n"
