"""A throw-away Kubernetes control plane: etcd + kube-apiserver (+ optional controllers).

The binaries are built from the Go module proxy by `tools/cluster/build.sh` into a
git-ignored cache keyed by version (`binaries()` finds them, `build()` runs the script).
`Cluster` starts them on 127.0.0.1 inside a private network namespace (when the process may
create one: root, or user namespaces), installs CRDs, and stops everything on `stop()`, on
leaving the `with` block, and (through PR_SET_PDEATHSIG) when this process dies.

    from kustodian.cluster import Cluster
    with Cluster(controllers=True) as c:          # starts; CRDs: c.install_crds(paths)
        c.kube                                     # kustodian.cluster.kube.Kube client
        c.kubeconfig                               # for tools on the host (kubectl, tests)
        c.inner_kubeconfig                         # for processes started with c.spawn()
        c.spawn("argocd-repo-server", [...])       # runs inside the namespace, stopped with c
        c.forward(8080)                            # host port reaching 127.0.0.1:8080 inside

No kubelet, no container runtime, no pod network: objects are stored, validated, admitted and
(with controllers=True) reconciled by kube-controller-manager and kube-scheduler; no pod runs.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kustodian.cluster.kube import Kube, KubeError
from kustodian.cluster.netns import connect_inside, join_netns, set_parent_death_signal
from kustodian.errors import KustodianError

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "tools" / "cluster" / "build.sh"
VERSIONS = REPO_ROOT / "tools" / "setup" / "versions.env"
CONTROL_PLANE = ("etcd", "kube-apiserver")
CONTROLLERS = ("kube-controller-manager", "kube-scheduler")
SERVICE_CIDR = "10.96.0.0/12"      # kubeadm's default
_HINT = "build them with `make cluster` (tools/cluster/build.sh; minutes on a cold cache)"


class ClusterError(KustodianError):
    """The cluster could not be built, started or used."""


# --- binaries -------------------------------------------------------------------------------

def versions() -> dict[str, str]:
    """The pins of tools/setup/versions.env."""
    pins: dict[str, str] = {}
    for line in VERSIONS.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            pins[key.strip()] = value.split("#", 1)[0].strip()
    return pins


def cache_dir() -> Path:
    return Path(os.environ.get("KUSTODIAN_CLUSTER_CACHE") or REPO_ROOT / ".cache" / "cluster")


def binary_path(component: str) -> Path:
    """Where the cache keeps `component` (it may not exist yet)."""
    pins = versions()
    if component == "etcd":
        return cache_dir() / f"etcd-{pins['CLUSTER_ETCD_VERSION']}" / "bin" / "etcd"
    return cache_dir() / f"kubernetes-{pins['CLUSTER_KUBERNETES_VERSION']}" / "bin" / component


def binaries(components: Iterable[str] = CONTROL_PLANE) -> dict[str, Path]:
    """Paths of the built components; ClusterError naming the missing ones."""
    found = {c: binary_path(c) for c in components}
    missing = [c for c, p in found.items() if not os.access(p, os.X_OK)]
    if missing:
        raise ClusterError(f"cluster binaries not built: {', '.join(missing)}", hint=_HINT)
    return found


def available(components: Iterable[str] = CONTROL_PLANE) -> bool:
    try:
        binaries(components)
    except ClusterError:
        return False
    return True


def build(components: Iterable[str] = CONTROL_PLANE) -> dict[str, Path]:
    """Build (or reuse from the cache) `components`; progress goes to stderr."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT), *components], check=False)
    if result.returncode != 0:
        raise ClusterError(f"building the cluster binaries failed (exit {result.returncode})",
                           hint="see the go output above")
    return binaries(components)


def crd_files(root: Path = REPO_ROOT) -> list[Path]:
    """The upstream CRD manifests `make setup` fetched (tools/setup/fetch-crds.sh)."""
    source = root / ".cache" / "crds" / "source"
    files = sorted(source.glob("*.yaml")) if source.is_dir() else []
    if not files:
        raise ClusterError(f"no CRD manifests in {source}", hint="run `make setup`")
    return files


# --- processes ------------------------------------------------------------------------------

def _preexec(netns: str | None) -> Any:
    def run() -> None:   # in the child, between fork and exec
        set_parent_death_signal()
        if netns:
            join_netns(netns)
    return run


@dataclass
class Component:
    """One process of the cluster, in its own process group, logging to a file."""

    name: str
    args: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self, netns: str | None, env: dict[str, str] | None = None) -> Component:
        try:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env,
                                             start_new_session=True,
                                             preexec_fn=_preexec(netns))
        except (OSError, subprocess.SubprocessError) as exc:
            raise ClusterError(f"cannot start {self.name}: {exc}") from None
        return self

    def exit_code(self) -> int | None:
        """Its exit status once it has exited, else None (also when it never started).

        Does not reap it: until `finish` does, the exited leader stays a zombie, so its pid
        (the group id `finish` kills) cannot be handed to an unrelated process group."""
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is not None:
            return proc.returncode
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return proc.poll()
        if info is None:
            return None
        return -info.si_status if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else info.si_status

    def alive(self) -> bool:
        return self.proc is not None and self.exit_code() is None

    def terminate(self) -> None:
        """SIGTERM to its process group (returns at once; `finish` waits)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # type: ignore[union-attr]

    def finish(self, deadline: float) -> None:
        """Wait for it until `deadline` (monotonic), SIGKILL its group (stragglers too), then
        reap it. The leader is reaped only after the SIGKILL, so the group id still names
        this group (a pid is not reused while its zombie exists)."""
        proc = self.proc
        if proc is None:
            return
        while self.exit_code() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        self.terminate()
        self.finish(time.monotonic() + timeout)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {result.stderr.strip()[-300:]}")


def make_pki(directory: Path) -> None:
    """CA, API server serving cert (127.0.0.1), admin client cert, service-account keys."""
    if shutil.which("openssl") is None:
        raise ClusterError("openssl is not on PATH", hint="install it (apt-get install openssl)")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "7",
             "-subj", "/CN=kustodian-throwaway-ca", cwd=directory)
    names = ("subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
             "DNS:kubernetes.default,DNS:kubernetes.default.svc,"
             "DNS:kubernetes.default.svc.cluster.local")
    for stem, subject, ext in (("apiserver", "/CN=kube-apiserver", names),
                               ("admin", "/O=system:masters/CN=kustodian-admin",
                                "extendedKeyUsage=clientAuth")):
        _openssl("req", *ec, "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", subject,
                 cwd=directory)
        (directory / f"{stem}.ext").write_text(ext + "\n", encoding="utf-8")
        _openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{stem}.crt", "-days", "7", "-extfile",
                 f"{stem}.ext", cwd=directory)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key",
             cwd=directory)
    _openssl("ec", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)


def _kubeconfig(path: Path, server: str, pki: Path) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "throwaway",
        "clusters": [{"name": "throwaway", "cluster": {
            "server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": "admin", "user": {
            "client-certificate": str(pki / "admin.crt"),
            "client-key": str(pki / "admin.key")}}],
        "contexts": [{"name": "throwaway", "context": {"cluster": "throwaway",
                                                       "user": "admin"}}],
    }
    path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    return path


# --- the cluster ----------------------------------------------------------------------------

@dataclass
class Cluster:
    """etcd + kube-apiserver (+ kube-controller-manager, kube-scheduler), loopback only.

    `netns`: None tries a private network namespace and falls back to the host's loopback
    (free ports) when it may not create one; True requires it; False never uses one."""

    controllers: bool = False
    netns: bool | None = None
    workdir: Path | None = None
    crds: Iterable[Path] | None = None     # None: the repository's (crd_files()); () none
    start_timeout: float = 90.0
    controller_manager_args: list[str] = field(default_factory=list)   # appended to kcm's
    components: list[Component] = field(default_factory=list)
    kube: Kube | None = None
    server: str = ""                 # reachable from this process
    inner_server: str = ""           # reachable from processes started by spawn()
    kubeconfig: Path | None = None
    inner_kubeconfig: Path | None = None
    netns_path: str | None = None    # /proc/<holder>/ns/net, or None on the host's loopback
    crd_kinds: set[tuple[str, str]] = field(default_factory=set)   # (group, kind) installed
    _holder: subprocess.Popen | None = None
    _holder_log: Path | None = None
    _own_workdir: bool = False
    _started: bool = False
    _ports: dict[str, int] = field(default_factory=dict)

    def __enter__(self) -> Cluster:
        """Starts the cluster, unless `start()` already did (`with Cluster().start() as c`)."""
        return self if self._started else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- start / stop -------------------------------------------------------------------
    def start(self) -> Cluster:
        """Start every process and wait until the API server is ready (each wait has a
        deadline; a failure names the component and shows its log tail)."""
        if self._started:
            raise ClusterError("this cluster is already started",
                               hint="call start() once (a `with` block calls it unless "
                                    "start() already did)")
        wanted = CONTROL_PLANE + (CONTROLLERS if self.controllers else ())
        bins = binaries(wanted)
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="kustodian-cluster-"))
            self._own_workdir = True
        self._started = True
        try:
            self._start(bins)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, bins: dict[str, Path]) -> None:
        work = self.workdir
        assert work is not None
        pki = work / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        pki.chmod(0o700)     # the CA and admin keys: cluster-admin to whoever reads them
        make_pki(pki)
        self._start_namespace()
        private = self.netns_path is not None
        for name, fixed in (("etcd", 2379), ("etcd-peer", 2380), ("apiserver", 6443),
                            ("controller-manager", 10257), ("scheduler", 10259)):
            self._ports[name] = fixed if private else _free_port()
        self.inner_server = f"https://127.0.0.1:{self._ports['apiserver']}"
        self.inner_kubeconfig = _kubeconfig(work / "inner.kubeconfig", self.inner_server, pki)
        etcd_url = f"http://127.0.0.1:{self._ports['etcd']}"
        peer_url = f"http://127.0.0.1:{self._ports['etcd-peer']}"
        self._run("etcd", [
            str(bins["etcd"]), "--name=throwaway", f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=throwaway={peer_url}", "--unsafe-no-fsync",
            "--log-level=warn"])
        self._wait_etcd()
        self._run("kube-apiserver", [
            str(bins["kube-apiserver"]), f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self._ports['apiserver']}", f"--cert-dir={work / 'certs'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC", "--allow-privileged=true",
            "--endpoint-reconciler-type=none", "--profiling=false", "--v=0"])
        if private:
            host_port = self.forward(self._ports["apiserver"])
            self.server = f"https://127.0.0.1:{host_port}"
        else:
            self.server = self.inner_server
        self.kubeconfig = _kubeconfig(work / "kubeconfig", self.server, pki)
        self.kube = Kube(self.server, str(pki / "ca.crt"), str(pki / "admin.crt"),
                         str(pki / "admin.key"))
        try:
            self.kube.wait_ready(self.start_timeout, alive=self.alive)
        except KubeError as exc:
            what = (f"kube-apiserver: {exc}" if self.alive() else
                    f"{self.exited()} exited while kube-apiserver was starting")
            raise ClusterError(f"{what}\n{self.logs()}") from None
        if self.controllers:
            self._start_controllers(bins, pki)
        crds = list(self.crds) if self.crds is not None else crd_files()
        if crds:
            self.install_crds(crds)

    def _wait_etcd(self) -> None:
        """Until etcd answers /health (the API server gives up on a storage that is late).

        Asked inside the namespace: etcd's port is never forwarded to the host (whoever
        reaches it reads and writes the whole cluster state, unauthenticated)."""
        deadline = time.monotonic() + self.start_timeout
        last = "no answer yet"
        while True:
            last = self._etcd_health(min(2.0, max(0.1, deadline - time.monotonic()))) or last
            if last == "healthy":
                return
            if not self.alive():
                raise ClusterError(f"etcd exited while starting\n{self.logs()}")
            if time.monotonic() > deadline:
                raise ClusterError(f"etcd was not healthy within {self.start_timeout:.0f} s "
                                   f"(last: {last})\n{self.logs()}")
            time.sleep(0.1)

    def _etcd_health(self, timeout: float) -> str | None:
        """'healthy', or what etcd's /health said instead, or why it could not be asked."""
        try:
            sock = connect_inside(self.netns_path, self._ports["etcd"], timeout)
        except OSError as exc:
            return f"connect: {exc.strerror or exc}"
        conn = http.client.HTTPConnection("127.0.0.1", self._ports["etcd"], timeout=timeout)
        conn.sock = sock
        try:
            conn.request("GET", "/health")
            body = conn.getresponse().read()
        except (OSError, http.client.HTTPException) as exc:
            return f"/health: {exc}"
        finally:
            conn.close()
        try:
            answer = json.loads(body)
        except ValueError:
            return f"/health: {body[:200]!r}"
        if isinstance(answer, dict) and answer.get("health") == "true":
            return "healthy"
        return f"/health: {body[:200].decode('utf-8', 'replace')}"

    def _start_controllers(self, bins: dict[str, Path], pki: Path) -> None:
        inner = str(self.inner_kubeconfig)
        self._run("kube-controller-manager", [
            str(bins["kube-controller-manager"]), f"--kubeconfig={inner}",
            f"--authentication-kubeconfig={inner}", f"--authorization-kubeconfig={inner}",
            "--bind-address=127.0.0.1", f"--secure-port={self._ports['controller-manager']}",
            f"--cert-dir={self.workdir / 'certs-kcm'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--leader-elect=false",
            "--use-service-account-credentials=false", "--profiling=false",
            *self.controller_manager_args])
        self._run("kube-scheduler", [
            str(bins["kube-scheduler"]), f"--kubeconfig={inner}",
            f"--authentication-kubeconfig={inner}", f"--authorization-kubeconfig={inner}",
            "--bind-address=127.0.0.1", f"--secure-port={self._ports['scheduler']}",
            f"--cert-dir={self.workdir / 'certs-scheduler'}", "--leader-elect=false",
            "--profiling=false"])

    def _start_namespace(self) -> None:
        if self.netns is False:
            return
        assert self.workdir is not None
        self._holder_log = self.workdir / "netns-holder.log"
        with open(self._holder_log, "ab") as log:
            self._holder = subprocess.Popen(
                [sys.executable, "-m", "kustodian.cluster.netns"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, bufsize=0, start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "tools")})
        try:
            hello = json.loads(self._holder_answer("starting"))
        except ValueError:
            hello = {}
        if hello.get("netns"):
            self.netns_path = f"/proc/{self._holder.pid}/ns/net"
            return
        self._stop_holder()
        if self.netns:
            raise ClusterError("cannot create a private network namespace here",
                               hint="run as root (or where user namespaces are allowed), "
                                    "or pass netns=False to use the host's loopback")

    def forward(self, inner_port: int) -> int:
        """A host loopback port that reaches 127.0.0.1:`inner_port` inside the namespace
        (the same port when there is no private namespace)."""
        if self.netns_path is None or self._holder is None or self._holder.stdin is None:
            return inner_port
        try:
            self._holder.stdin.write(f"forward {inner_port}\n".encode())
            self._holder.stdin.flush()
        except OSError:
            pass     # (it died: the answer below says so)
        answer = self._holder_answer(f"forwarding port {inner_port}").strip()
        if not answer.isdigit():
            raise ClusterError(f"the namespace holder could not forward port {inner_port} "
                               f"(answer {answer!r})")
        return int(answer)

    def _holder_answer(self, doing: str, timeout: float = 30.0) -> str:
        """One line from the namespace holder, within `timeout` seconds."""
        holder = self._holder
        assert holder is not None and holder.stdout is not None
        fd = holder.stdout.fileno()
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                raise ClusterError(f"the network namespace holder did not answer within "
                                   f"{timeout:.0f} s ({doing})\n{self._holder_tail()}")
            chunk = os.read(fd, 1)      # one byte at a time: never read past the line
            if not chunk:
                raise ClusterError(f"the network namespace holder exited while {doing} "
                                   f"(exit {holder.poll()})\n{self._holder_tail()}")
            data += chunk
        return data.decode("utf-8", "replace")

    def _holder_tail(self) -> str:
        path = getattr(self, "_holder_log", None)
        try:
            text = path.read_text(errors="replace") if path else ""
        except OSError:
            text = ""
        return "--- netns holder:\n" + "\n".join(text.splitlines()[-15:])

    def _run(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Component:
        assert self.workdir is not None
        component = Component(name, args, self.workdir / f"{name}.log")
        self.components.append(component)
        return component.start(self.netns_path, env)

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Component:
        """Start another process inside the cluster's namespace; stopped with the cluster."""
        return self._run(name, args, env)

    def alive(self) -> bool:
        """Every process of the cluster is still running."""
        return all(c.alive() for c in self.components)

    def exited(self) -> str:
        """The names of the processes that are no longer running."""
        return ", ".join(c.name for c in self.components if not c.alive()) or "nothing"

    def logs(self) -> str:
        """The last lines of every process's log."""
        return "\n".join(f"--- {c.name} (exit {c.exit_code()}):\n"
                         f"{c.tail()}" for c in self.components)

    @property
    def inner_ports(self) -> dict[str, int]:
        """name -> port of each server inside the namespace (etcd, apiserver, ...)."""
        return dict(self._ports)

    def pids(self) -> dict[str, int]:
        """name -> pid of every process the cluster started (the namespace holder too)."""
        found = {c.name: c.proc.pid for c in self.components if c.proc is not None}
        if self._holder is not None:
            found["netns-holder"] = self._holder.pid
        return found

    def stop(self) -> None:
        """Stop every process and remove the work dir; safe to call twice. All are sent
        SIGTERM at once (newest first) and given 5 s in all, then SIGKILL: a stop is bounded
        by seconds however many processes the cluster has."""
        components = list(reversed(self.components))
        for component in components:
            component.terminate()
        deadline = time.monotonic() + 5.0
        for component in components:
            component.finish(deadline)
        self.components.clear()
        self._stop_holder()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self._started = False

    def _stop_holder(self) -> None:
        holder, self._holder = self._holder, None
        self.netns_path = None
        if holder is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if holder.stdin:
                holder.stdin.close()
        try:
            holder.wait(5)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(5)
        if holder.stdout:
            holder.stdout.close()

    # --- content ------------------------------------------------------------------------
    def install_crds(self, files: Iterable[Path], timeout: float = 120.0,
                     kinds: set[tuple[str, str]] | None = None) -> None:
        """Apply CRD manifests for real and wait until each is Established; with `kinds`,
        only the CRDs of those (group, kind) pairs (the others' files are not even read)."""
        assert self.kube is not None
        names = []
        groups = {g for g, _ in kinds} if kinds is not None else None
        for path in files:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ClusterError(f"cannot read the CRD manifest: {exc.strerror}",
                                   file=str(path)) from None
            if groups is not None and not any(f"group: {g}\n" in text for g in groups):
                continue    # (parsing every upstream CRD takes seconds)
            for doc in _crd_documents(text, str(path)):
                spec = doc.get("spec") or {}
                kind = (spec.get("group"), (spec.get("names") or {}).get("kind"))
                if kind in self.crd_kinds or (kinds is not None and kind not in kinds):
                    continue
                answer = self.kube.apply(doc, dry_run=False, force=True)
                if not answer.ok:
                    raise ClusterError(f"installing CRD {doc['metadata'].get('name')} failed: "
                                       f"{_message(answer.body)}", file=str(path))
                names.append(doc["metadata"]["name"])
                self.crd_kinds.add(kind)
        deadline = time.monotonic() + timeout
        for name in names:
            while True:
                answer = self.kube.get(
                    f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                conditions = ((answer.body or {}).get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Established" and c.get("status") == "True"
                       for c in conditions):
                    break
                if time.monotonic() > deadline:
                    raise ClusterError(f"CRD {name} was not established within {timeout:.0f} s")
                time.sleep(0.1)
        self.kube.resource_types(refresh=True)


class _CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading, plus YAML 1.1's `=` value tag (upstream CRDs have a bare `=` in enums)."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value",
                           lambda loader, node: loader.construct_scalar(node))


def _crd_documents(text: str, shown: str) -> list[dict]:
    try:
        docs = list(yaml.load_all(text, Loader=_CrdLoader))
    except yaml.YAMLError as exc:
        raise ClusterError(f"cannot read the CRD manifest: {exc}", file=shown) from None
    return [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
            and isinstance(d.get("metadata"), dict) and d["metadata"].get("name")]


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body)
    return str(body)
