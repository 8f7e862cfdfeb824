"""Fixtures of the kustodian check suites (shared helpers live in tests/support/cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kustodian.contentstore import CACHE_ENV
from support.cli import write_tree


@pytest.fixture
def tree(tmp_path: Path):
    """write_tree bound to a fresh temp dir (with a .git marker so it is its own root)."""
    (tmp_path / ".git").mkdir()

    def make(files: dict[str, str]) -> Path:
        return write_tree(tmp_path, files)

    return make


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own KUSTODIAN_RENDER_CACHE (renders and policy results), not the session's
    shared one; not created: the gate makes it on first use."""
    directory = tmp_path / "operator-cache"
    monkeypatch.setenv(CACHE_ENV, str(directory))
    return directory
