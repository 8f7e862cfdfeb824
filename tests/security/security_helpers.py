"""The threat model's helpers: a scratch clone of this repository (the base branch `main`
plus a `feature` branch the hostile change is committed on) and the gate run on it in full
and in PR mode, as CI runs it. Nothing is mocked: real git, kustomize and conftest."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from support.cli import KUSTODIAN, REPO_ROOT, git, init_repo, kustodian

__all__ = ["KUSTODIAN", "REPO_ROOT", "GateRun", "ScratchRepo", "check_docs", "git",
           "make_scratch"]

# what the gate reads of a GitOps repository (the gate itself is installed elsewhere)
GATE_INPUTS = (".kustodian.yaml", "Dockerfile", "base", "components", "overlays", "argocd",
               "policies")


@dataclass
class GateRun:
    """One `kustodian check` run: exit code, parsed JSON report, PR summary, stderr."""

    returncode: int
    report: dict
    summary: str
    stderr: str

    @property
    def findings(self) -> list[dict]:
        return self.report.get("findings", [])

    def rules(self) -> set[str]:
        return {f["rule"] for f in self.findings}

    def of(self, rule: str) -> list[dict]:
        return [f for f in self.findings if f["rule"] == rule]


class ScratchRepo:
    """A copy of this repository's gate inputs with history: `main`, then `feature`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def privileged_patch(self, overlay: str = "dev") -> None:
        """The hostile change most tests judge: the overlay patches its Deployment privileged
        (and able to escalate)."""
        self.write(f"overlays/{overlay}/patches/debug.yaml", """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: agent}
            spec:
              template:
                spec:
                  containers:
                    - name: agent
                      securityContext: {privileged: true, allowPrivilegeEscalation: true}
            """)
        kfile = self.root / f"overlays/{overlay}/kustomization.yaml"
        kfile.write_text(kfile.read_text().rstrip("\n") + "\n  - path: patches/debug.yaml\n")

    def commit(self, message: str = "hostile change") -> None:
        git(self.root, "add", "-A", "-f")
        git(self.root, "commit", "-q", "-m", message)

    def run(self, *args: str, timeout: int = 600) -> GateRun:
        summary = self.root / ".summary.md"
        summary.unlink(missing_ok=True)
        proc = kustodian("check", "--format", "json", *args, cwd=self.root, timeout=timeout)
        try:
            report = json.loads(proc.stdout) if proc.stdout.strip() else {}
        except json.JSONDecodeError:
            report = {}
        text = summary.read_text(encoding="utf-8") if summary.exists() else ""
        summary.unlink(missing_ok=True)
        return GateRun(proc.returncode, report, text, proc.stderr)

    def full(self, *paths: str) -> GateRun:
        """The gate as `make check` runs it."""
        return self.run(*paths)

    def pr(self) -> GateRun:
        """The gate as the pull-request workflow runs it (against the base branch)."""
        return self.run("--base-ref", "main", "--summary", ".summary.md")


def make_scratch(root: Path) -> ScratchRepo:
    """This repository's gate inputs committed on `main`, checked out on `feature`: a copy
    of this process's template repository (made once, never changed), so each test gets the
    same history without copying, hashing and committing the tree again."""
    shutil.copytree(_template(), root, symlinks=True)
    return ScratchRepo(root)


_TEMPLATE: list[Path] = []


def _template() -> Path:
    """The scratch repositories' template, made on first use in a temp dir of this process
    (removed at its exit): the gate inputs committed on `main`, `feature` checked out."""
    if not _TEMPLATE:
        holder = tempfile.mkdtemp(prefix="kustodian-scratch-template-")
        atexit.register(shutil.rmtree, holder, True)
        root = Path(holder) / "repo"
        root.mkdir()
        for name in GATE_INPUTS:
            src = REPO_ROOT / name
            if src.is_dir():
                shutil.copytree(src, root / name, symlinks=True)
            elif src.exists():
                shutil.copy2(src, root / name)
        init_repo(root, "base")
        git(root, "checkout", "-q", "-b", "feature")
        _TEMPLATE.append(root)
    return _TEMPLATE[0]


def check_docs(tmp_path: Path, docs: list[dict], env: str | None = "prod") -> list:
    """Findings of the built-in rules over documents written to one plain file (fast, for
    the edge cases of a rule; the scratch-clone tests run the whole gate)."""
    import yaml
    from kustodian.pipeline import CheckOptions, run_check

    (tmp_path / ".git").mkdir(exist_ok=True)
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    report = run_check(tmp_path, [str(path)], CheckOptions(env=env, schema=False,
                                                           conftest=False))
    assert not report.errors, report.errors
    return report.findings
