"""`kustodian cluster build|up|down|run`: the throw-away cluster (kustodian.cluster).

`up` starts a supervisor process (`up --foreground`, in its own session) that owns the
cluster and holds an exclusive lock on `<state dir>/lock` for as long as it lives; `up`
returns once the cluster is ready. The lock, not a pid, says whether a cluster is up: the
kernel releases it when the supervisor exits, however it exits, so a stale pid file, a
reused pid or an unreaped (zombie) supervisor never looks like a running cluster. `down`
sends the supervisor SIGTERM and waits (bounded) until the lock is free; the cluster's
processes die with their supervisor in any case (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from kustodian.errors import KustodianError

_COMPONENTS = ("etcd", "kube-apiserver", "kubectl", "kube-controller-manager", "kube-scheduler")
_STOP_WAIT = 30.0      # a supervisor's stop is bounded by ~20 s (Cluster.stop, then the holder)


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


def _start(controllers: bool, crds: bool, workdir: Path | None) -> Any:
    from kustodian.cluster import Cluster

    return Cluster(controllers=controllers, workdir=workdir,
                   crds=None if crds else ()).start()


# --- up / down ------------------------------------------------------------------------------

def _lock_holder(state: Path) -> int | None:
    """The pid of the live supervisor of `state`, or None when no cluster is up there."""
    try:
        fd = os.open(state / "lock", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(state / "pid")
            return pid if pid is not None else -1     # (starting: no pid written yet)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _already_up(state: Path, pid: int) -> KustodianError:
    shown = f" (pid {pid})" if pid > 0 else " (starting)"
    return KustodianError(f"a cluster is already up{shown}", file=str(state),
                          hint=f"use it (export KUBECONFIG={state / 'kubeconfig'}), or stop it "
                               f"with `kustodian cluster down"
                               f"{'' if state == _state_dir(None) else f' --state-dir {state}'}`")


_up_options = [
    click.option("--controllers", is_flag=True,
                 help="Also run kube-controller-manager and kube-scheduler."),
    click.option("--crds/--no-crds", default=True, show_default=True,
                 help="Install the upstream CRDs this repository uses."),
]


def _with_up_options(func: Any) -> Any:
    for option in reversed(_up_options):
        func = option(func)
    return func


@cluster.command("up")
@_with_up_options
@click.option("--state-dir", metavar="DIR",
              help="Where its kubeconfig, pid and lock go (default .cache/cluster/run).")
@click.option("--foreground", is_flag=True,
              help="Stay in the foreground until Ctrl-C or SIGTERM instead of returning once "
                   "the cluster is ready.")
@click.option("--timeout", type=click.FloatRange(1), default=600.0, show_default=True,
              help="Seconds to wait for the cluster to be ready.")
@click.option("--detached", is_flag=True, hidden=True)   # (the supervisor `up` starts)
def up(controllers: bool, crds: bool, state_dir: str | None, foreground: bool,
       timeout: float, detached: bool) -> None:
    """Start a cluster that outlives this command; `kustodian cluster down` stops it."""
    state = _state_dir(state_dir)
    pid = _lock_holder(state)
    if pid is not None:
        raise _already_up(state, pid)
    if foreground:
        _supervise(state, controllers, crds, detached)
        return
    args = [sys.executable, "-m", "kustodian", "cluster", "up", "--foreground", "--detached",
            "--state-dir", str(state), "--crds" if crds else "--no-crds"]
    if controllers:
        args.append("--controllers")
    child = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True,
                             env={**os.environ, "PYTHONPATH": _tools_path()})
    try:
        closed, output = _read_until_closed(child, timeout)
    except KeyboardInterrupt:
        os.kill(child.pid, signal.SIGTERM)      # it stops its cluster and exits
        try:
            child.wait(_STOP_WAIT)
        except subprocess.TimeoutExpired:
            _kill_supervisor(child.pid, state)
        raise KustodianError("interrupted while the cluster was starting; stopped it") from None
    if not closed:     # not ready in time: stop it, show what it said
        _kill_supervisor(child.pid, state)
        child.wait()
        tail = "\n".join(output.splitlines()[-20:])
        raise KustodianError(f"the cluster was not ready within {timeout:.0f} s; stopped it"
                             + (f"\n{tail}" if tail else ""))
    if (state / "ready").is_file() and child.poll() is None:
        click.echo(output, nl=False)
        return
    try:       # it closed its output by exiting: its error is in the output
        code = child.wait(_STOP_WAIT)
    except subprocess.TimeoutExpired:
        _kill_supervisor(child.pid, state)
        code = child.wait()
    click.echo(output, nl=False, err=True)
    sys.exit(code or 1)


def _tools_path() -> str:
    tools = str(Path(__file__).resolve().parents[2])
    extra = os.environ.get("PYTHONPATH")
    return f"{tools}{os.pathsep}{extra}" if extra else tools


def _read_until_closed(child: subprocess.Popen, timeout: float) -> tuple[bool, str]:
    """(closed, output): the child's output until it closes it (ready, or exited), or until
    `timeout` (closed False)."""
    assert child.stdout is not None
    fd = child.stdout.fileno()
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    closed = False
    while not closed:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        closed = not chunk
        chunks.append(chunk)
    child.stdout.close()
    return closed, b"".join(chunks).decode("utf-8", "replace")


def _supervise(state: Path, controllers: bool, crds: bool, detached: bool) -> None:
    """Own a cluster until SIGTERM/SIGINT/SIGHUP or until one of its processes exits."""
    state.mkdir(parents=True, exist_ok=True)
    lock = os.open(state / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        raise _already_up(state, _read_pid(state / "pid") or -1) from None
    for stale in ("pid", "pids.json", "kubeconfig", "ready", "work"):
        path = state / stale
        (shutil.rmtree if path.is_dir() else _unlink)(path)
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        if not stopping:
            stopping.append(signum)
            raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    cluster_ = None
    code = 0
    try:
        _write(state / "pid", f"{os.getpid()}\n")
        cluster_ = _start(controllers, crds, state / "work")
        _write(state / "kubeconfig", cluster_.kubeconfig.read_text(encoding="utf-8"))
        _write(state / "pids.json", json.dumps(cluster_.pids()) + "\n")
        _write(state / "ready", "")
        click.echo(f"cluster up: {cluster_.server}"
                   f"{' (private network namespace)' if cluster_.netns_path else ''}")
        click.echo(f"export KUBECONFIG={state / 'kubeconfig'}")
        click.echo("stop it with: kustodian cluster down"
                   + ("" if state == _state_dir(None) else f" --state-dir {state}"))
        sys.stdout.flush()
        if detached:      # `up` returns when this output closes; later lines go to a log
            log = os.open(state / "supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                          0o600)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(log)
        while cluster_.alive():
            time.sleep(0.5)
        click.echo(f"cluster: {cluster_.exited()} exited; stopping\n{cluster_.logs()}",
                   err=True)
        code = 1
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):   # stop without a second
            signal.signal(sig, signal.SIG_IGN)                       # interruption
        if cluster_ is not None:
            cluster_.stop()
        for name in ("ready", "kubeconfig", "pids.json", "pid"):
            _unlink(state / name)
        shutil.rmtree(state, ignore_errors=True)
        os.close(lock)           # (the lock goes last: `down` returns after this)
    if not detached:
        click.echo("cluster down")
    sys.exit(code)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _kill_supervisor(pid: int, state: Path) -> None:
    """SIGKILL a supervisor that did not stop, and its cluster's process groups (they die
    with it anyway, through PR_SET_PDEATHSIG; this does not wait for that)."""
    try:
        pids = json.loads((state / "pids.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pids = {}
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    for child in pids.values() if isinstance(pids, dict) else ():
        if isinstance(child, int) and child > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child, signal.SIGKILL)


@cluster.command("down")
@click.option("--state-dir", metavar="DIR", help="The `up` state dir (default .cache/cluster/run).")
def down(state_dir: str | None) -> None:
    """Stop the cluster `kustodian cluster up` started; returns once it has stopped."""
    state = _state_dir(state_dir)
    pid = _lock_holder(state)
    if pid is None:
        stale = state.is_dir()
        shutil.rmtree(state, ignore_errors=True)
        click.echo(f"no cluster is up (in {state})"
                   + ("; removed the state a killed one left" if stale else ""))
        return
    if pid < 0:
        raise KustodianError("the cluster is still starting (no pid yet)", file=str(state),
                             hint="run `kustodian cluster down` again in a moment")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_stopped(state, pid, _STOP_WAIT):
        _kill_supervisor(pid, state)
        if not _wait_stopped(state, pid, 10):
            raise KustodianError(f"the cluster's supervisor (pid {pid}) did not stop, even "
                                 f"after SIGKILL", file=str(state))
        shutil.rmtree(state, ignore_errors=True)
        click.echo(f"cluster down (its supervisor did not stop within {_STOP_WAIT:.0f} s: "
                   f"killed)")
        return
    click.echo("cluster down")


# --- run ------------------------------------------------------------------------------------

@cluster.command("run", context_settings={"ignore_unknown_options": True})
@_with_up_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(controllers: bool, crds: bool, command: tuple[str, ...]) -> None:
    """Start a cluster, run COMMAND with KUBECONFIG set to it, stop the cluster.

    Exits with COMMAND's status (128+N when a signal N ended it). SIGTERM and SIGHUP are
    passed on to COMMAND; Ctrl-C reaches it from the terminal."""
    code = 0
    with _start(controllers, crds, None) as c:
        try:
            child = subprocess.Popen(list(command),
                                     env={**os.environ, "KUBECONFIG": str(c.kubeconfig)})
        except OSError as exc:
            click.echo(f"kustodian: error: cannot run {command[0]}: {exc.strerror}", err=True)
            code = 127
        else:
            previous = {sig: signal.signal(sig, lambda signum, _f: child.send_signal(signum))
                        for sig in (signal.SIGTERM, signal.SIGHUP)}
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                status = child.wait()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            code = status if status >= 0 else 128 - status
    sys.exit(code)


def _wait_stopped(state: Path, pid: int, timeout: float) -> bool:
    """Until the supervisor has let go of its lock and exited (a zombie counts as exited:
    its parent, not `down`, reaps it); False after `timeout`."""
    deadline = time.monotonic() + timeout
    while _lock_holder(state) is not None or _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _running(pid: int) -> bool:
    """`pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _read_pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().strip())
    return None


COMMANDS = [cluster]
