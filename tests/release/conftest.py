"""Fixtures of the release suite (helpers live in release_helpers.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from release_helpers import copy_fixture
from support.cli import copy_checkout, git, shared_template


def _build_template(dest: Path) -> None:
    """tests/release/fixtures/repo as a git repository at `dest`, its objects packed and
    git's sample hooks left out: fewer files to copy."""
    copy_fixture(dest)
    shutil.rmtree(dest / ".git" / "hooks")
    git(dest, "repack", "-a", "-d", "-q")
    git(dest, "prune-packed")


@pytest.fixture(scope="session")
def fixture_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture repository, made once for the session; never changed (tests get copies)."""
    return shared_template(tmp_path_factory, "release-fixture", _build_template)


@pytest.fixture
def repo(tmp_path: Path, fixture_template: Path) -> Path:
    """A git working tree holding a copy of tests/release/fixtures/repo (branch main, one
    commit): a copy of the session's template, .git included (cheaper than a new commit)."""
    return copy_checkout(fixture_template, tmp_path / "repo")

