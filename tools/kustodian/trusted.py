"""The trusted side of pull-request mode: what the gate obeys comes from the base revision.

The pull request is what is judged, so it cannot also be what judges: the configuration
(`.kustodian.yaml`: env mapping, profiles, exemption limits, remote allow-list) and the
policies (Rego and data) are taken from the base commit for both sides of the comparison.
The PR's versions of them - and of the gate's code, tools and workflows - are judged
instead: every changed file among GATE_PATHS is a `gate-config-changed` finding (with its
diff in the summary) that a code owner has to approve. An exemption the PR adds or widens
is a finding of its own (`exemption-added`) naming what it suppresses.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.model import ExemptionUse, Finding, Report
from kustodian.report import md

GATE_PATHS = (".kustodian.yaml", "policies", "tools", ".github", "Makefile", ".bin",
              ".pre-commit-config.yaml")
TRUSTED_INPUTS = (".kustodian.yaml", "policies")    # what the checks read from the base
MAX_DIFF_CHARS = 6_000


def is_gate_path(path: str) -> bool:
    return any(path == g or path.startswith(g + "/") for g in GATE_PATHS)


def materialize(git, commit: str, dest: Path) -> Path:
    """The base commit's configuration and policies, extracted into `dest` (a policies/ dir
    always exists there, empty when the base has none: the PR's Rego is never used). One
    listing of the commit: a path it does not hold lists nothing."""
    git.materialize(commit, list(TRUSTED_INPUTS), dest, what="the base configuration")
    (dest / "policies").mkdir(exist_ok=True)
    return dest


def _diff(git, commit: str, paths: list[str]) -> str:
    """`git diff` of the paths between the base commit and the work tree."""
    try:
        return git.diff_text(commit, paths, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KustodianError(f"cannot diff the gate's configuration: {exc}") from None


def judge(git, base, changed: set[str], head: Report, base_report: Report
          ) -> tuple[list[Finding], list[str]]:
    """The PR's own findings about the gate (new, whatever the base said) and the Markdown
    sections showing them: gate files changed (with the diff), exemptions added."""
    from kustodian.rules.meta import EXEMPTION_ADDED, GATE_CONFIG_CHANGED

    findings: list[Finding] = []
    sections: list[str] = []
    gate_changed = sorted(p for p in changed if is_gate_path(p))
    for path in gate_changed:
        findings.append(Finding(
            rule=GATE_CONFIG_CHANGED.id, severity=GATE_CONFIG_CHANGED.severity,
            category=GATE_CONFIG_CHANGED.category, file=path, line=None,
            title=GATE_CONFIG_CHANGED.title, remediation=GATE_CONFIG_CHANGED.remediation,
            message=f"{path} is part of the gate (configuration, policies, code or "
                    "workflows); this check used the base revision's version, and a code "
                    "owner must review the change"))
    if gate_changed:
        text = _diff(git, base.commit, gate_changed)
        note = ""
        if len(text) > MAX_DIFF_CHARS:
            note = (f"\n_Diff truncated at {MAX_DIFF_CHARS} characters; see the PR's files "
                    "tab._\n")
            text = text[:MAX_DIFF_CHARS]
        fence = md.fence(text.splitlines())
        sections += ["### Gate configuration changed (judged, not used)", "",
                     "This pull request changes the gate itself; the check above ran with the "
                     "base revision's configuration and policies. A code owner must approve:",
                     "", "<details><summary>diff</summary>", "", f"{fence}diff", text.rstrip(),
                     fence, note, "</details>", ""]
    before = {_key(e): e for e in base_report.exemptions}
    for use in head.exemptions:
        old = before.get(_key(use))
        widened = old is not None and ((use.expires or "9999") > (old.expires or "9999")
                                       or use.suppressed > old.suppressed)
        if old is not None and not widened:
            continue
        what = "widens" if old is not None else "adds"
        where = f"{use.kind} {use.namespace + '/' if use.namespace else ''}{use.name}"
        findings.append(Finding(
            rule=EXEMPTION_ADDED.id, severity=EXEMPTION_ADDED.severity,
            category=EXEMPTION_ADDED.category, file=use.file, line=use.line, env=use.env,
            kind=use.kind, name=use.name, namespace=use.namespace, container=use.container,
            overlay=use.overlay, title=EXEMPTION_ADDED.title,
            remediation=EXEMPTION_ADDED.remediation,
            message=f"this pull request {what} an exemption: {use.rule} on {where}"
                    f"{' container ' + use.container if use.container else ''} suppresses "
                    f"{use.suppressed} finding(s) until {use.expires or 'never'} "
                    f"({use.reason})"))
    return findings, sections


def _key(use: ExemptionUse) -> tuple:
    return (use.rule, use.env, use.overlay, use.kind, use.namespace, use.name, use.container)
