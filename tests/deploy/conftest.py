"""Fixtures of the deployment suite: every overlay and argocd/ rendered once with the real
kustomize, and one strict schema validator for the whole session."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# tests/ is on sys.path (tests/conftest.py), so the tests/kustodian folder would shadow the
# kustodian package as a namespace package; the real package dir goes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from deploy_helpers import kustomize_build
from kustodian.schemas import SchemaValidator


@pytest.fixture(scope="session")
def render(kustomize_bin: str, repo_root: Path) -> Callable[[str], list[dict]]:
    """render("overlays/prod") -> the rendered resources (cached for the session)."""
    cache: dict[str, list[dict]] = {}

    def _render(rel: str) -> list[dict]:
        if rel not in cache:
            cache[rel] = kustomize_build(kustomize_bin, repo_root / rel)
        return cache[rel]

    return _render


@pytest.fixture(scope="session")
def validator() -> SchemaValidator:
    return SchemaValidator()
