"""Run the real `kustodian` CLI and `git`, and build scratch repositories, for every suite.

    from support.cli import git, init_repo, commit_all, kustodian, write_tree, copy_repo
    from support.cli import copy_checkout       # a module's template repository, per test

    root = write_tree(tmp_path / "repo", {"overlays/dev/kustomization.yaml": "..."})
    init_repo(root)                                  # git init -b main, add -A, one commit
    run = kustodian("check", "--format", "json", cwd=root)
    assert run.returncode == 1 and run.findings[0]["rule"] == "no-privileged"

Everything here is worker-safe under pytest-xdist: no fixed ports, no shared directories,
and git never reads the machine's or the user's git configuration (a fixed identity instead).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import warm

REPO_ROOT = Path(__file__).resolve().parents[2]
KUSTODIAN = (sys.executable, "-m", "kustodian")

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    # A test repository must not depend on (or be broken by) ~/.gitconfig or /etc/gitconfig:
    # signing, hooks paths, default branch names, ... ; `git config` in the repo still works.
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


@dataclass
class Run:
    """What a command printed and returned; `.json()`/`.findings` read a JSON report."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)

    @property
    def findings(self) -> list[dict]:
        return self.json()["findings"]


def kustodian(*args: str, cwd: Path | str = REPO_ROOT, timeout: float = 600,
              env: dict[str, str] | None = None, input: str | None = None) -> Run:
    """`kustodian <args>` in `cwd`, as a user runs it: a process of its own, never raises on
    exit status. `env` entries are added to this process's environment.

    The process is forked from a warm server that has imported the CLI (support/warm.py):
    the same process, minus the interpreter start-up. Tests of the start-up itself (the
    console script, signals, pipes) run `KUSTODIAN` with subprocess instead."""
    full_env = {**os.environ, **(env or {})}
    if warm.usable(full_env):
        code, out, err = warm.run(args, cwd, full_env, input, timeout)
        return Run(tuple(args), code, out, err)
    proc = subprocess.run([*KUSTODIAN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, input=input, env=full_env)
    return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)


def check_json(repo: Path | str, *args: str) -> tuple[int, dict, str]:
    """`kustodian check --no-schema --no-conftest --format json <args>` in `repo`, asserted
    free of tracebacks: its exit status, JSON report ({} when it printed none) and stderr."""
    run = kustodian("check", "--no-schema", "--no-conftest", "--format", "json", *args,
                    cwd=repo)
    assert "Traceback" not in run.stderr, run.stderr
    return run.returncode, run.json() if run.stdout.strip() else {}, run.stderr


def git(repo: Path | str, *args: str, check: bool = True, env: dict[str, str] | None = None,
        input: str | None = None) -> str:
    """`git <args>` in `repo`; returns stdout. Fails the test with git's stderr unless
    `check=False`."""
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, input=input,
                          env={**os.environ, **GIT_IDENTITY, **(env or {})}, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} in {repo} exited {proc.returncode}:\n"
                             f"{proc.stderr}")
    return proc.stdout


def commit_all(repo: Path | str, message: str) -> str:
    """Stage everything and commit it; returns the new commit's sha."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return head_sha(repo)


_SHA = re.compile(r"[0-9a-f]{40}")


def head_sha(repo: Path | str) -> str:
    """The sha HEAD names: read from `.git` when `repo` is a work tree's top with a plain
    `.git` dir and a loose ref (what a commit leaves), else asked of `git rev-parse`."""
    dot_git = Path(repo) / ".git"
    with contextlib.suppress(OSError):
        head = (dot_git / "HEAD").read_text(encoding="ascii").strip()
        if head.startswith("ref: refs/"):
            head = (dot_git / head.removeprefix("ref: ")).read_text(encoding="ascii").strip()
        if _SHA.fullmatch(head):
            return head
    return git(repo, "rev-parse", "HEAD").strip()


# What `git config user.name t; git config user.email t@example.com` would add to a new
# repository's .git/config (written directly: two git processes less per repository). The
# identity is in the repository, not only in GIT_IDENTITY, for the commits `kustodian`'s
# release commands make there (they run with the test's environment, not GIT_IDENTITY).
_USER_CONFIG = "[user]\n\tname = t\n\temail = t@example.com\n"


def init_repo(root: Path | str, message: str = "initial", branch: str = "main") -> Path:
    """Make `root` a git repository on `branch` with everything in it committed once."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", branch)
    with open(root / ".git" / "config", "a", encoding="utf-8") as config:
        config.write(_USER_CONFIG)
    commit_all(root, message)
    return root


def shared_template(factory: pytest.TempPathFactory, name: str,
                    build: Callable[[Path], object]) -> Path:
    """A read-only template (e.g. a repository tests copy with `copy_checkout`) built once
    per test session, for every xdist worker: the first worker to ask runs `build(dir)`
    under a lock, the others wait for it and reuse the dir. Nothing may change it."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent                       # the session's dir, above each worker's
    base = root / "templates"
    base.mkdir(exist_ok=True)
    dest, done = base / name, base / f"{name}.done"
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(dest, ignore_errors=True)
            build(dest)
            done.touch()
    return dest


def copy_checkout(template: Path | str, dest: Path | str) -> Path:
    """A copy of the git repository `template` (work tree, index, refs and history) at
    `dest`, for one test to change: a read-only template built once per module (a fixture
    with scope="module") and copied per test costs a `cp -a` instead of init + add +
    commit (pack the template's objects, `git repack -a -d -q`, or each loose one is a file
    to copy). The copy's index is refreshed (its files have new inodes)."""
    dest = Path(dest)
    subprocess.run(["cp", "-a", str(template), str(dest)], check=True, capture_output=True)
    git(dest, "update-index", "-q", "--refresh")
    return dest


# The parts of this repository a scratch copy needs to run the gate and the release commands
# on the real layout: the configuration, the manifests and the policies.
REPO_PARTS = (".kustodian.yaml", "base", "components", "overlays", "policies")


def copy_repo(dest: Path | str, parts: tuple[str, ...] = REPO_PARTS,
              config_edits: dict[str, str] | None = None) -> Path:
    """A fresh git repository at `dest` holding a copy of `parts` of this repository, its
    `.kustodian.yaml` edited by `config_edits` (old text -> new text, each must occur),
    everything committed once (see `init_repo`)."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    for part in parts:
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(source, dest / part)
        elif source.is_file():
            shutil.copy2(source, dest / part)
    if config_edits:
        config = dest / ".kustodian.yaml"
        text = config.read_text()
        for old, new in config_edits.items():
            assert old in text, f"{old!r} is not in {config}"
            text = text.replace(old, new)
        config.write_text(text)
    return init_repo(dest)


def write_tree(root: Path | str, files: dict[str, str]) -> Path:
    """Create `files` (relative path -> text, dedented) under `root`; returns `root`."""
    root = Path(root)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """1-based line number of the nth line of `path` containing `needle`."""
    seen = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == nth:
                return number
    raise AssertionError(f"{needle!r} not found in {path}")
