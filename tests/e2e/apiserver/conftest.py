"""Fixtures of the kube-apiserver suites: one throw-away cluster for the session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml


@pytest.fixture(scope="session")
def cluster():
    """etcd + kube-apiserver in a private network namespace; the check installs the
    upstream CRDs of the kinds it meets."""
    from kustodian.cluster import Cluster

    started = Cluster(crds=()).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def prod_canary(repo_root: Path, kustomize_bin: str) -> list[dict]:
    """The rendered overlays/prod-canary, as documents."""
    text = subprocess.run([kustomize_bin, "build", str(repo_root / "overlays/prod-canary")],
                          check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(text) if d]
