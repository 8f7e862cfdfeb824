"""Fixtures of the kustodian check suites (shared helpers live in tests/support/cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import write_tree


@pytest.fixture
def tree(tmp_path: Path):
    """write_tree bound to a fresh temp dir (with a .git marker so it is its own root)."""
    (tmp_path / ".git").mkdir()

    def make(files: dict[str, str]) -> Path:
        return write_tree(tmp_path, files)

    return make
