"""`kustodian cluster build|up|down|run`: the throw-away cluster (kustodian.cluster)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from kustodian.errors import KustodianError

_COMPONENTS = ("etcd", "kube-apiserver", "kubectl", "kube-controller-manager", "kube-scheduler")


def _state_dir(value: str | None) -> Path:
    from kustodian.cluster import cache_dir

    return Path(value).resolve() if value else cache_dir() / "run"


@click.group("cluster")
def cluster() -> None:
    """A throw-away Kubernetes control plane on loopback (etcd + kube-apiserver)."""


@cluster.command("build")
@click.argument("components", nargs=-1, type=click.Choice(_COMPONENTS))
def build_cmd(components: tuple[str, ...]) -> None:
    """Build COMPONENTS (default: etcd, kube-apiserver, kubectl) into the cache."""
    from kustodian.cluster import build

    for name, path in build(components or ("etcd", "kube-apiserver", "kubectl")).items():
        click.echo(f"{name}\t{path}")


def _start(controllers: bool, workdir: Path | None):
    from kustodian.cluster import Cluster

    return Cluster(controllers=controllers, workdir=workdir).start()


@cluster.command("up")
@click.option("--controllers", is_flag=True,
              help="Also run kube-controller-manager and kube-scheduler.")
@click.option("--state-dir", metavar="DIR",
              help="Where the kubeconfig and pid file go (default .cache/cluster/run).")
def up(controllers: bool, state_dir: str | None) -> None:
    """Start a cluster and keep it until Ctrl-C, SIGTERM or `kustodian cluster down`."""
    state = _state_dir(state_dir)
    pid_file = state / "pid"
    if pid_file.is_file() and _alive(_read_pid(pid_file)):
        raise KustodianError(f"a cluster is already up (pid {_read_pid(pid_file)})",
                             file=str(state), hint="`kustodian cluster down` stops it")
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    stopping = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    cluster_ = None
    try:
        cluster_ = _start(controllers, state / "work")
        pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
        (state / "kubeconfig").write_text(cluster_.kubeconfig.read_text(), encoding="utf-8")
        click.echo(f"cluster up: {cluster_.server}"
                   f"{' (private network namespace)' if cluster_.netns_path else ''}")
        click.echo(f"export KUBECONFIG={state / 'kubeconfig'}")
        sys.stdout.flush()
        while cluster_._all_alive():
            time.sleep(0.5)
        click.echo("cluster: a component exited; stopping", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        if cluster_ is not None:
            cluster_.stop()
        shutil.rmtree(state, ignore_errors=True)
    click.echo("cluster down")


@cluster.command("down")
@click.option("--state-dir", metavar="DIR", help="The `up` state dir (default .cache/cluster/run).")
def down(state_dir: str | None) -> None:
    """Stop the cluster `kustodian cluster up` started (waits until it has stopped)."""
    state = _state_dir(state_dir)
    pid = _read_pid(state / "pid")
    if pid is None or not _alive(pid):
        click.echo("no cluster is up")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 120
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        raise KustodianError(f"the cluster (pid {pid}) did not stop within 120 s")
    click.echo("cluster down")


@cluster.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--controllers", is_flag=True,
              help="Also run kube-controller-manager and kube-scheduler.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(controllers: bool, command: tuple[str, ...]) -> None:
    """Start a cluster, run COMMAND with KUBECONFIG set to it, stop the cluster.

    Exits with COMMAND's status."""
    with _start(controllers, None) as c:
        try:
            code = subprocess.call(list(command), env={**os.environ,
                                                       "KUBECONFIG": str(c.kubeconfig)})
        except OSError as exc:
            raise KustodianError(f"cannot run {command[0]}: {exc.strerror}") from None
    sys.exit(code)


def _read_pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().strip())
    return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


COMMANDS = [cluster]
