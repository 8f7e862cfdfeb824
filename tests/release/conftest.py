"""Fixtures of the release suite (helpers live in release_helpers.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from release_helpers import copy_fixture


@pytest.fixture(scope="session")
def fixture_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/release/fixtures/repo as a git repository, made once; never changed (tests get
    copies)."""
    return copy_fixture(tmp_path_factory.mktemp("template") / "repo")


@pytest.fixture
def repo(tmp_path: Path, fixture_template: Path) -> Path:
    """A git working tree holding a copy of tests/release/fixtures/repo (branch main, one
    commit): a copy of the session's template, .git included (cheaper than a new commit)."""
    return Path(shutil.copytree(fixture_template, tmp_path / "repo", symlinks=True))
