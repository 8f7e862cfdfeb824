"""The policy gate around a release: `kustodian check` before and after, added findings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.kustomize.build import find_kustomize


@dataclass
class CheckResult:
    findings: list[dict]
    overlays: list[str]

    def keys(self) -> set[tuple]:
        return {finding_key(f) for f in self.findings}


def finding_key(finding: dict) -> tuple:
    """Identity of a finding across the change (no line numbers: they move)."""
    return tuple(finding.get(k) for k in ("rule", "kind", "name", "container", "message"))


def run_check(root: Path, overlays: list[str]) -> CheckResult:
    """`python -m kustodian check --format json <overlays>` in the repository (a subprocess)."""
    args = [sys.executable, "-m", "kustodian", "check", "--format", "json", *overlays]
    tool_dir = os.path.dirname(find_kustomize(root))      # the same kustomize releases use
    env = {**os.environ, "PATH": tool_dir + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run(args, cwd=root, capture_output=True, text=True, check=False, env=env)
    if proc.returncode not in (0, 1):
        detail = proc.stderr.strip().splitlines()
        raise KustodianError(
            f"kustodian check could not evaluate {', '.join(overlays)}: "
            f"{detail[-1] if detail else f'exit {proc.returncode}'}",
            hint="fix the overlay, or pass --no-check to skip the policy gate")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise KustodianError("kustodian check did not print JSON") from None
    findings = data.get("findings", []) if isinstance(data, dict) else data
    if not isinstance(findings, list):
        raise KustodianError("kustodian check printed JSON without a findings list")
    return CheckResult([f for f in findings if isinstance(f, dict)], overlays)


def added_findings(before: CheckResult, after: CheckResult) -> list[dict]:
    known = before.keys()
    return [f for f in after.findings if finding_key(f) not in known]


def describe(finding: dict) -> str:
    where = f"{finding.get('file')}:{finding.get('line')}" if finding.get("file") else ""
    what = "/".join(str(finding.get(k)) for k in ("kind", "name") if finding.get(k))
    return (f"[{finding.get('severity', '?')}] {finding.get('rule')} {what}: "
            f"{finding.get('message')} {where}").rstrip()
