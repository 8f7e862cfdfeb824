"""Fixtures of the threat-model suite (helpers live in security_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from security_helpers import ScratchRepo, make_scratch
from support.cli import write_tree


@pytest.fixture
def scratch(tmp_path: Path) -> ScratchRepo:
    """A scratch clone of this repository, on a `feature` branch off `main`."""
    return make_scratch(tmp_path / "repo")


@pytest.fixture
def tree_repo(tmp_path: Path):
    """Write a small repository (dedented files, a .git marker) and return its root."""
    root = tmp_path / "tree"
    (root / ".git").mkdir(parents=True)

    def make(files: dict[str, str]) -> Path:
        return write_tree(root, files)

    return make
