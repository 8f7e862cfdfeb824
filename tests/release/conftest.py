"""Fixtures of the release suite (helpers live in release_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from release_helpers import copy_fixture


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git working tree holding a copy of tests/release/fixtures/repo (branch main)."""
    return copy_fixture(tmp_path / "repo")
