"""Fixtures of the Argo CD end-to-end test: one throw-away cluster with its controllers, kwok,
the External Secrets Operator and Argo CD for the whole module, all stopped at the end."""

from __future__ import annotations

import os
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


def in_namespace(inode: int) -> list[str]:
    """The live processes (pid and command) whose network namespace is `inode`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry.name}/ns/net").st_ino != inode:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:     # gone meanwhile, or a kernel thread
            continue
        found.append(f"{entry.name}: {command.strip()}")
    return found


@dataclass
class Stack:
    cluster: Cluster
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
    netns_fd = None
    try:
        cluster.start()
        assert cluster.netns_path is not None
        # held open so that the namespace (and its inode number) outlives the cluster
        netns_fd = os.open(cluster.netns_path, os.O_RDONLY)
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
        yield Stack(cluster, kube, git, argocd, helper)
    finally:
        if helper:
            helper.stop()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    # Nothing is left behind: no process (a server, or a git or kustomize child of the
    # repo-server) still lives in the cluster's network namespace.
    if netns_fd is not None:
        try:
            left = in_namespace(os.fstat(netns_fd).st_ino)
        finally:
            os.close(netns_fd)
        assert not left, f"processes left behind in the cluster's network namespace: {left}"
    assert not workdir.exists()
