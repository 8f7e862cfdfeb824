"""The pull-request body: what moves, the source diff, the rendered diff, the policy result."""

from __future__ import annotations

import difflib

from kustodian.release.changes import ChangeSet
from kustodian.release.gate import CheckResult, added_findings, describe

MAX_RENDERED = 60_000


def rendered_diff(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Overlay -> unified diff of its `kustomize build` output (only overlays that changed)."""
    out = {}
    for overlay, old in before.items():
        new = after.get(overlay, "")
        diff = "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                            new.splitlines(keepends=True),
                                            f"a/{overlay} (rendered)", f"b/{overlay} (rendered)"))
        if diff:
            out[overlay] = diff
    return out


def pr_body(changes: ChangeSet, rendered: dict[str, str] | None,
            check_before: CheckResult | None, check_after: CheckResult | None) -> str:
    short = changes.image
    lines = [f"## Release: {changes.action} `{short}` in **{changes.env}**", ""]
    lines += ["| | |", "|---|---|", f"| environment | `{changes.env}` |"]
    if changes.source_env:
        lines.append(f"| verified in | `{changes.source_env}` |")
    lines += [f"| image | `{changes.image}` |", f"| from | `{changes.before}` |",
              f"| to | `{changes.after}` |", ""]
    lines += ["### Files", *[f"- `{c.rel}`" for c in changes.files], ""]
    lines += [f"> {note}" for note in changes.notes]
    lines += ["### Source diff", "```diff", changes.diff().rstrip("\n"), "```", ""]
    lines.append("### Rendered diff (kustomize build, before -> after)")
    if rendered is None:
        lines.append("_not rendered_")
    elif not rendered:
        lines.append("_no rendered change_")
    budget = MAX_RENDERED
    for overlay, diff in (rendered or {}).items():
        text = diff if len(diff) <= budget else diff[:budget] + "\n... (truncated)\n"
        budget = max(0, budget - len(text))
        lines += [f"<details><summary><code>{overlay}</code></summary>", "", "```diff",
                  text.rstrip("\n"), "```", "</details>", ""]
    lines += ["", "### Policy (kustodian check)"]
    if check_before is None or check_after is None:
        lines.append("_not run (--no-check)_")
    else:
        added = added_findings(check_before, check_after)
        lines.append(f"Overlays: {', '.join(f'`{o}`' for o in check_after.overlays)}. "
                     f"Findings before: {len(check_before.findings)}, after: "
                     f"{len(check_after.findings)}, added by this change: {len(added)}.")
        lines += [f"- {describe(f)}" for f in added]
        lines.append("")
        lines.append(":white_check_mark: no new findings" if not added else ":x: new findings")
    return "\n".join(lines).rstrip("\n") + "\n"
