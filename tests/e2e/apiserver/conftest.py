"""Fixtures of the kube-apiserver suites: one throw-away cluster for the session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

_HERE = Path(__file__).parent
_STARTED: list = []


@pytest.fixture(scope="session")
def cluster():
    """etcd + kube-apiserver in a private network namespace; the check installs the
    upstream CRDs of the kinds it meets. Stopped after the last test of this directory
    (below), so it does not run alongside the clusters of the suites that follow."""
    from kustodian.cluster import Cluster

    started = Cluster(crds=()).start()
    _STARTED.append(started)
    try:
        yield started
    finally:
        started.stop()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the session cluster once the next test is outside this directory (a pytest
    "package" scope would not: this directory is not a Python package)."""
    if nextitem is None or _HERE not in Path(nextitem.path).parents:
        while _STARTED:
            _STARTED.pop().stop()


@pytest.fixture(scope="session")
def prod_canary(repo_root: Path, kustomize_bin: str) -> list[dict]:
    """The rendered overlays/prod-canary, as documents."""
    text = subprocess.run([kustomize_bin, "build", str(repo_root / "overlays/prod-canary")],
                          check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(text) if d]
