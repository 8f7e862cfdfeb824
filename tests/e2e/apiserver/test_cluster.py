"""The throw-away cluster itself: starts, answers, installs CRDs, stays off the host's
network, and leaves no process behind on stop, on a failed start, or on `cluster down`."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from kustodian import cluster as cluster_mod
from kustodian.cluster import Cluster, ClusterError
from kustodian.cluster.netns import connect_inside


def children(pid: int) -> set[int]:
    """Live (non-zombie) processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def using(path: Path) -> set[int]:
    """Processes whose command line mentions `path`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def test_cluster_serves_the_crds_in_a_private_network_namespace(cluster):
    assert cluster.netns_path is not None        # root here: a private namespace
    wanted = {("argoproj.io", "Application"), ("gateway.networking.k8s.io", "HTTPRoute"),
              ("external-secrets.io", "ExternalSecret"), ("monitoring.coreos.com",
                                                          "ServiceMonitor")}
    cluster.install_crds(cluster_mod.crd_files(), kinds=wanted)
    assert wanted <= cluster.crd_kinds
    kube = cluster.kube
    assert kube.get("/version").body["gitVersion"] == cluster_mod.versions()[
        "CLUSTER_KUBERNETES_VERSION"]
    for api_version, kind in (("argoproj.io/v1alpha1", "Application"),
                              ("gateway.networking.k8s.io/v1", "HTTPRoute"),
                              ("external-secrets.io/v1", "ExternalSecret"),
                              ("monitoring.coreos.com/v1", "ServiceMonitor")):
        assert kube.resource_type(api_version, kind) is not None, kind
    # the API server's own port is not on the host's loopback, only the forwarded one
    inner = int(cluster.inner_server.rsplit(":", 1)[1])
    with socket.socket() as sock, pytest.raises(OSError):
        sock.connect(("127.0.0.1", inner))


def host_listeners(pids) -> set[int]:
    """Ports of the TCP sockets listening in THIS (the host's) network namespace that belong
    to the processes `pids`."""
    inodes = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:          # LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def test_only_the_api_server_is_reachable_from_the_host(cluster):
    """etcd answers anyone who reaches it, unauthenticated: it is never forwarded. Of all the
    cluster's processes, only the API server's forwarded port listens on the host."""
    api_port = int(cluster.server.rsplit(":", 1)[1])
    assert host_listeners(cluster.pids().values()) == {api_port}
    etcd = cluster.inner_ports["etcd"]
    with connect_inside(cluster.netns_path, etcd, 5):      # etcd is there, inside
        pass
    with socket.socket() as sock, pytest.raises(OSError):
        sock.connect(("127.0.0.1", etcd))                  # and not on the host's loopback


def test_kubectl_from_the_cache_uses_the_kubeconfig(cluster):
    if not cluster_mod.available(["kubectl"]):
        pytest.fail("kubectl is not built; `make cluster` builds it")
    kubectl = str(cluster_mod.binary_path("kubectl"))
    out = subprocess.run([kubectl, "--kubeconfig", str(cluster.kubeconfig), "get", "crd",
                          "httproutes.gateway.networking.k8s.io", "-o", "name"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "customresourcedefinition.apiextensions.k8s.io/" \
                                 "httproutes.gateway.networking.k8s.io"


def test_stop_leaves_no_process_and_no_files(tmp_path):
    work = tmp_path / "cluster"
    before = children(os.getpid())
    c = Cluster(workdir=work, crds=()).start()
    pids = [comp.proc.pid for comp in c.components]
    assert len(pids) == 2 and children(os.getpid()) - before
    c.stop()
    c.stop()                                     # twice is harmless
    assert children(os.getpid()) == before
    assert not using(work)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_failed_start_tears_everything_down(tmp_path):
    work = tmp_path / "cluster"
    before = children(os.getpid())
    c = Cluster(workdir=work, crds=(), start_timeout=0.01)
    with pytest.raises(ClusterError, match=r"not healthy|not ready") as info:
        c.start()
    assert c.components == [] and children(os.getpid()) == before
    assert not using(work)
    # the component it waited for, and its log
    assert str(info.value).startswith(("etcd was not healthy within", "kube-apiserver:"))
    assert "--- etcd (exit" in str(info.value)


def test_a_component_that_dies_at_start_is_named_with_its_log(tmp_path):
    work = tmp_path / "cluster"
    work.mkdir()
    (work / "etcd").write_text("not a directory")           # etcd's --data-dir
    before = children(os.getpid())
    started = time.monotonic()
    with pytest.raises(ClusterError) as info:
        Cluster(workdir=work, crds=()).start()
    assert time.monotonic() - started < 60                  # no wait for the deadline
    message = str(info.value)
    assert message.startswith("etcd exited while starting"), message
    assert "--- etcd (exit " in message and "not a directory" in message   # its log tail
    assert children(os.getpid()) == before


def test_start_twice_is_an_error_and_with_does_not_restart(tmp_path):
    before = children(os.getpid())
    with Cluster(workdir=tmp_path / "c", crds=()).start() as c:    # `with` after start()
        assert len(c.components) == 2
        with pytest.raises(ClusterError, match="already started"):
            c.start()
        assert len(c.components) == 2
    assert children(os.getpid()) == before


def test_bad_crd_file_is_a_clear_error_and_a_teardown(tmp_path):
    bad = tmp_path / "crd.yaml"
    bad.write_text("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                   "metadata: {name: nope}\nspec: {group: x}\n")
    before = children(os.getpid())
    with pytest.raises(ClusterError, match="installing CRD nope failed"):
        Cluster(workdir=tmp_path / "c", crds=[bad]).start()
    assert children(os.getpid()) == before


def test_missing_binaries_say_how_to_build_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KUSTODIAN_CLUSTER_CACHE", str(tmp_path / "empty"))
    with pytest.raises(ClusterError) as info:
        Cluster(crds=()).start()
    assert "etcd, kube-apiserver" in str(info.value) and "make cluster" in str(info.value)


def test_second_build_reuses_the_cache():
    started = time.monotonic()
    out = subprocess.run(["bash", str(cluster_mod.BUILD_SCRIPT), "etcd", "kube-apiserver"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "building" not in out.stderr and time.monotonic() - started < 10
