"""Fixtures of the Argo CD end-to-end test: one throw-away cluster with its controllers, kwok,
the External Secrets Operator and Argo CD for the whole module, all stopped at the end."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kustodian.cluster import Cluster, binary_path
from stack import (
    ArgoCD,
    ExternalSecretsOperator,
    GitRemote,
    Kube,
    Kwok,
    StatusHelper,
    platform_prerequisites,
)


@dataclass
class Stack:
    kube: Kube
    git: GitRemote
    argocd: ArgoCD
    helper: StatusHelper


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="kustodian-argocd-e2e-"))
    # Argo CD's controller binds 0.0.0.0: a private network namespace is required (netns=True).
    # No kubelet means no pod metrics: kube-controller-manager's HPA controller would mark every
    # HPA FailedGetResourceMetric, so it does not run (the StatusHelper stands in for it).
    cluster = Cluster(controllers=True, netns=True, workdir=workdir / "cluster",
                      controller_manager_args=["--controllers=*,-horizontalpodautoscaling"])
    helper = None
    try:
        cluster.start()
        kube = Kube(str(binary_path("kubectl")), str(cluster.kubeconfig))
        platform_prerequisites(kube)
        Kwok(cluster, kube).start()
        ExternalSecretsOperator(cluster, kube).start()
        helper = StatusHelper(kube).start()
        git = GitRemote(workdir / "git")
        git.root.mkdir()
        git.create()
        argocd = ArgoCD(cluster, kube, workdir / "argocd")
        argocd.workdir.mkdir()
        argocd.start()
        yield Stack(kube, git, argocd, helper)
    finally:
        if helper:
            helper.stop()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
