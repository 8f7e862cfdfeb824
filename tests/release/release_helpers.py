"""Helpers of the release suite: git, the CLI runner, the fixture repo copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURE_REPO = Path(__file__).parent / "fixtures" / "repo"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          check=False)
    assert proc.returncode == 0, f"git {args}: {proc.stderr}"
    return proc.stdout


def kustodian(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the real CLI (`python -m kustodian`) in `cwd`."""
    return subprocess.run([sys.executable, "-m", "kustodian", *args], cwd=cwd,
                          capture_output=True, text=True, check=False)


def init_repo(path: Path) -> Path:
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "t")
    git(path, "config", "user.email", "t@example.com")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    return path


def copy_fixture(dest: Path) -> Path:
    shutil.copytree(FIXTURE_REPO, dest)
    return init_repo(dest)
