"""`kustodian cluster run|up|down` for real: a real etcd + kube-apiserver each time, the exit
status passed through, a prompt and bounded stop, and no process left behind (checked by
scanning /proc for the pids the cluster started and for any process in its namespace)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from kustodian import cluster as cluster_mod
from support.cli import KUSTODIAN, kustodian

# What a command run by `kustodian cluster run` reports: the API server's version through
# KUBECONFIG, and every process of the cluster (by its work dir, then by its namespace).
PROBE = textwrap.dedent("""\
    import json, os, sys
    from pathlib import Path
    from kustodian.cluster.kube import Kube

    config = json.load(open(os.environ["KUBECONFIG"]))
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    kube = Kube(cluster["server"], cluster["certificate-authority"],
                user["client-certificate"], user["client-key"])
    work = str(Path(os.environ["KUBECONFIG"]).parent).encode()
    pids = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and work in (p / "cmdline").read_bytes():
                pids.append(int(p.name))
        except OSError:
            pass
    nets = sorted({os.readlink(f"/proc/{pid}/ns/net") for pid in pids})
    print(json.dumps({"server": cluster["server"], "pids": pids, "nets": nets,
                      "work": work.decode(),
                      "version": kube.get("/version").body["gitVersion"]}), flush=True)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text("started")
        import time; time.sleep(600)
    sys.exit(3)
""")


def running(pid: int) -> bool:
    """`pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def in_netns(net: str) -> set[int]:
    """Live processes in the network namespace `net` ('net:[inode]')."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "net") == net and running(int(entry.name)):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def eventually_gone(pids, nets, timeout: float = 10.0) -> None:
    """Every pid gone and nothing left in `nets` (a process can take a moment to be reaped
    by init after its parent exited)."""
    deadline = time.monotonic() + timeout
    while True:
        left = {p for p in pids if running(p)} | {p for n in nets for p in in_netns(n)}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, {p: Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in left
                      if running(p)}


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    path = tmp_path / "probe.py"
    path.write_text(PROBE)
    return path


def test_run_passes_the_kubeconfig_and_the_exit_status_and_leaves_nothing(probe):
    host_net = os.readlink("/proc/self/ns/net")
    run = kustodian("cluster", "run", "--no-crds", "--", sys.executable, str(probe),
                    timeout=300)
    assert run.returncode == 3, run.stderr
    seen = json.loads(run.stdout)
    assert seen["server"].startswith("https://127.0.0.1:")
    assert seen["version"] == cluster_mod.versions()["CLUSTER_KUBERNETES_VERSION"]
    assert len(seen["pids"]) >= 2                       # etcd, kube-apiserver
    assert seen["nets"] and host_net not in seen["nets"]   # a private network namespace
    eventually_gone(seen["pids"], seen["nets"])
    assert not Path(seen["work"]).exists()


def test_run_a_missing_command_is_a_clear_error_and_a_teardown():
    run = kustodian("cluster", "run", "--no-crds", "--", "no-such-command-here", timeout=300)
    assert run.returncode == 127
    assert "cannot run no-such-command-here" in run.stderr and "Traceback" not in run.stderr


def test_run_stopped_by_sigterm_passes_it_on_and_tears_down(probe, tmp_path):
    started = tmp_path / "started"
    proc = subprocess.Popen([*KUSTODIAN, "cluster", "run", "--no-crds", "--", sys.executable,
                             str(probe), str(started)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not started.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)
        seen = json.loads(proc.stdout.readline())
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        assert time.monotonic() - asked < 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    eventually_gone(seen["pids"], seen["nets"])


def test_up_outlives_the_command_and_down_stops_it_promptly(tmp_path):
    state = tmp_path / "state"
    up = kustodian("cluster", "up", "--no-crds", "--state-dir", str(state), timeout=300)
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith("cluster up: https://127.0.0.1:"), up.stdout
    assert f"export KUBECONFIG={state / 'kubeconfig'}" in up.stdout
    pids = json.loads((state / "pids.json").read_text())
    supervisor = int((state / "pid").read_text())
    assert {"etcd", "kube-apiserver", "netns-holder"} <= set(pids)
    assert all(running(p) for p in [supervisor, *pids.values()])   # `up` returned; they run
    nets = {os.readlink(f"/proc/{pids['etcd']}/ns/net")}
    try:
        kubectl = cluster_mod.binary_path("kubectl")
        if kubectl.exists():
            got = subprocess.run([str(kubectl), "get", "namespace", "default", "-o", "name"],
                                 env={**os.environ, "KUBECONFIG": str(state / "kubeconfig")},
                                 capture_output=True, text=True, timeout=60)
            assert got.stdout.strip() == "namespace/default", got.stderr

        again = kustodian("cluster", "up", "--no-crds", "--state-dir", str(state), timeout=60)
        assert again.returncode == 2
        assert f"a cluster is already up (pid {supervisor})" in again.stderr
        assert "kustodian cluster down" in again.stderr
        assert all(running(p) for p in pids.values())       # the first one is untouched

        asked = time.monotonic()
        down = kustodian("cluster", "down", "--state-dir", str(state), timeout=120)
        took = time.monotonic() - asked
        assert down.returncode == 0 and down.stdout.strip() == "cluster down", down.stderr
        assert took < 20, took
    finally:
        for pid in [supervisor, *pids.values()]:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
    eventually_gone([supervisor, *pids.values()], nets, timeout=2)
    assert not state.exists()
    again = kustodian("cluster", "down", "--state-dir", str(state), timeout=60)
    assert again.returncode == 0 and "no cluster is up" in again.stdout


def test_down_does_not_wait_for_an_unreaped_supervisor(tmp_path):
    """`up --foreground` run by a parent that reaps it late (here: this test): once stopped,
    the supervisor is a zombie until then; `down` must see it stopped, not wait for it."""
    state = tmp_path / "state"
    up = subprocess.Popen([*KUSTODIAN, "cluster", "up", "--foreground", "--no-crds",
                           "--state-dir", str(state)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        line = up.stdout.readline()
        assert line.startswith("cluster up: https://127.0.0.1:"), up.stderr.read()
        pids = json.loads((state / "pids.json").read_text())
        asked = time.monotonic()
        down = kustodian("cluster", "down", "--state-dir", str(state), timeout=120)
        assert down.returncode == 0 and "cluster down" in down.stdout, down.stderr
        assert time.monotonic() - asked < 20
        assert not running(up.pid)             # stopped (maybe not reaped yet)
        assert up.wait(5) == 0
        eventually_gone(pids.values(), (), timeout=2)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_up_that_cannot_start_says_why_and_leaves_nothing(tmp_path):
    state = tmp_path / "state"
    up = kustodian("cluster", "up", "--no-crds", "--state-dir", str(state), timeout=120,
                   env={"KUSTODIAN_CLUSTER_CACHE": str(tmp_path / "empty")})
    assert up.returncode == 2, up.stdout + up.stderr
    assert "cluster binaries not built" in up.stderr and "make cluster" in up.stderr
    assert "Traceback" not in up.stderr
    assert not state.exists()
    assert "no cluster is up" in kustodian("cluster", "down", "--state-dir", str(state)).stdout
