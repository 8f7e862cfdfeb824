"""Fixtures of the release suite (helpers live in release_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/kustodian (a test folder) would shadow the kustodian package for in-process imports,
# because tests/ is on sys.path; the real package dir goes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from release_helpers import copy_fixture


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git working tree holding a copy of tests/release/fixtures/repo (branch main)."""
    return copy_fixture(tmp_path / "repo")
