"""Carry out a planned ChangeSet: dry-run diff, or write -> gate -> PR body -> commit -> push."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kustodian.atomicfile import write_atomic
from kustodian.errors import KustodianError
from kustodian.git import Git
from kustodian.release import gitflow
from kustodian.release.changes import ChangeSet
from kustodian.release.config import ReleaseConfig
from kustodian.release.gate import added_findings, describe, run_check
from kustodian.release.kustomization import render
from kustodian.release.prbody import pr_body, rendered_diff


@dataclass
class Options:
    dry_run: bool = False
    commit: bool = False
    allow_dirty: bool = False
    pr_body: Path | None = None
    push: bool = False
    remote: str = "origin"
    target: str | None = None
    check: bool = True
    gate_always: bool = False        # run the gate even when only writing files
    must_pass: frozenset[str] = frozenset()   # rules with no finding at all after the change


class GateRefused(KustodianError):
    """The change adds policy findings: exit 1, the tree is restored."""

    exit_code = 1


def execute(config: ReleaseConfig, changes: ChangeSet, opts: Options,
            echo: Callable[[str], None]) -> None:
    """Apply `changes` as `opts` ask; raise KustodianError (tree restored) on refusal."""
    if opts.push and not opts.commit:
        raise KustodianError("--push needs --commit")
    if changes.empty:
        echo(f"{changes.env}: {changes.image} already set to {changes.after}; nothing to do")
        return
    if opts.dry_run:
        echo(changes.diff().rstrip("\n"))
        echo(f"(dry run: {len(changes.files)} file(s) would change; nothing written)")
        return
    root = config.root
    start_branch = None
    git = None
    if opts.commit:
        git = gitflow.repository(root)
        gitflow.check_clean(git, changes, opts.allow_dirty)
        gitflow.check_fork_point(git, changes.env)
        start_branch = git.current_branch()
    gate = opts.check and (opts.commit or opts.pr_body is not None or opts.gate_always)
    before = run_check(config, changes.overlays) if gate else None
    rendered_before = _render_all(config, changes.overlays) if opts.pr_body else None
    changes.apply()
    try:
        after = run_check(config, changes.overlays) if gate else None
        if before is not None and after is not None:
            added = added_findings(before, after)
            if added:
                listing = "\n".join(f"  {describe(f)}" for f in added)
                raise GateRefused(f"the change adds {len(added)} policy finding(s); refused and "
                                  f"restored the files:\n{listing}",
                                  hint="fix the findings or release another version")
            failing = [f for f in after.findings if f.rule in opts.must_pass]
            if failing:
                listing = "\n".join(f"  {describe(f)}" for f in failing)
                raise GateRefused(f"the policy gate does not pass after the change; refused "
                                  f"and restored the files:\n{listing}",
                                  hint="fix the overlay before this step")
        if opts.pr_body is not None:
            rendered = rendered_diff(rendered_before or {}, _render_all(config, changes.overlays))
            write_atomic(opts.pr_body, pr_body(changes, rendered, before, after).encode(),
                         durable=True)
            echo(f"wrote the PR body to {opts.pr_body}")
        for note in changes.notes:
            echo(f"note: {note}")
        echo(_summary(changes))
        if git is not None:
            branch, sha = _commit(git, changes, start_branch)
            echo(f"committed {sha[:12]} on branch {branch}")
            if opts.push:
                target = opts.target or start_branch or "main"
                tries = gitflow.push(git, opts.remote, target)
                echo(f"pushed to {opts.remote}/{target}"
                     + (f" after {tries} attempts (rebased)" if tries > 1 else ""))
    except BaseException:
        if not (git is not None and git.current_branch() != start_branch):
            changes.restore()
        raise


def _commit(git: Git, changes: ChangeSet, start_branch: str | None) -> tuple[str, str]:
    try:
        return gitflow.commit(git, changes)
    except KustodianError:
        changes.restore()
        git.attempt(["reset", "-q", "--", *[c.rel for c in changes.files]])
        if start_branch:
            failed = git.current_branch()
            git.attempt(["checkout", "-q", start_branch])
            if failed and failed != start_branch:
                git.attempt(["branch", "-D", failed])
        raise


def _render_all(config: ReleaseConfig, overlays: list[str]) -> dict[str, str]:
    return {overlay: render(config, overlay) for overlay in overlays}


def _summary(changes: ChangeSet) -> str:
    files = ", ".join(c.rel for c in changes.files)
    source = f" (from {changes.source_env})" if changes.source_env else ""
    return (f"{changes.action} {changes.env}{source}: {changes.image} {changes.before} -> "
            f"{changes.after} [{files}]")
