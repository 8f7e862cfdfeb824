"""The pieces of the Argo CD end-to-end test: a local git remote, kubectl, Argo CD (with its
redis), kwok, the External Secrets Operator and the one status helper. Every server is started
with `Cluster.spawn`: on loopback inside the cluster's private network namespace, stopped with
the cluster (the fixed ports below are those of that namespace, which nothing else shares)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from kustodian.cluster import Cluster, Component
from support.processes import REPO_ROOT, require_tool

E2E_CACHE = REPO_ROOT / ".cache" / "e2e"
UPSTREAM_URL = "https://github.com/acme/agent-gitops.git"


def versions() -> dict[str, str]:
    """tools/setup/versions.env as a dict (the pins the binaries were built at)."""
    pins = {}
    for line in (REPO_ROOT / "tools/setup/versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip()
    return pins


def cached(name: str, version_key: str, binary: str | None = None) -> Path:
    """A binary built by tools/setup/e2e-tools.sh; fail (not skip) with the hint when missing."""
    path = E2E_CACHE / f"{name}-{versions()[version_key]}" / (binary or name)
    if not path.exists():
        raise RuntimeError(f"{path.relative_to(REPO_ROOT)} is missing; run `make e2e` (it builds "
                           f"it with tools/setup/e2e-tools.sh {name})")
    return path


def wait_until(check: Callable[[], object], timeout: float, what: str,
               interval: float = 1.0, diagnose: Callable[[], str] | None = None) -> object:
    """Poll `check` until it returns something truthy; on timeout fail saying what and why."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = diagnose() if diagnose else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}")
        time.sleep(interval)


@dataclass
class Kube:
    """kubectl bound to one kubeconfig."""

    kubectl: str
    kubeconfig: str

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        proc = subprocess.run([self.kubectl, f"--kubeconfig={self.kubeconfig}", *args],
                              input=stdin, capture_output=True, text=True, timeout=120)
        if check and proc.returncode:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stderr or proc.stdout}")
        return proc.stdout

    def apply(self, docs: list[dict] | str, namespace: str | None = None) -> None:
        text = docs if isinstance(docs, str) else yaml.safe_dump_all(docs)
        ns = [f"--namespace={namespace}"] if namespace else []
        self.run("apply", "--server-side", "--field-manager=e2e", "--force-conflicts", *ns,
                 "-f", "-", stdin=text)

    def get(self, kind: str, name: str = "", namespace: str | None = None) -> dict | None:
        ns = [f"--namespace={namespace}"] if namespace else []
        out = self.run("get", kind, *([name] if name else []), *ns, "-o", "json", check=False)
        return json.loads(out) if out.strip() else None

    def items(self, kind: str, namespace: str | None = None) -> list[dict]:
        found = self.get(kind, namespace=namespace)
        return found["items"] if found else []


@dataclass
class GitRemote:
    """A bare repository served as file:// plus a working clone to commit to it.

    The working tree of this checkout (tracked and untracked, not ignored files) is the first
    commit on `main`; the only change from the checkout is the repository URL in argocd/, which
    points at this bare repository instead of the hosted one."""

    root: Path
    bare: Path = field(init=False)
    work: Path = field(init=False)

    def __post_init__(self) -> None:
        self.bare, self.work = self.root / "remote.git", self.root / "work"

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    @staticmethod
    def env() -> dict[str, str]:
        """A git identity and no user or system git config."""
        return {**os.environ, "GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
                "GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
                "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}

    def git(self, *args: str, cwd: Path | None = None) -> str:
        proc = subprocess.run(["git", *args], cwd=cwd or self.work, env=self.env(),
                              capture_output=True, text=True, timeout=60)
        if proc.returncode:
            raise AssertionError(f"git {' '.join(args)} failed:\n{proc.stderr}")
        return proc.stdout.strip()

    def create(self, checkout: Path = REPO_ROOT) -> GitRemote:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=checkout, capture_output=True,
                                check=True).stdout.decode().split("\0")
        for rel in filter(None, listed):
            src = checkout / rel
            if src.is_file():
                dest = self.work / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
        for path in (self.work / "argocd").rglob("*.yaml"):
            path.write_text(path.read_text().replace(UPSTREAM_URL, self.url))
        self.git("init", "--bare", "--initial-branch=main", str(self.bare), cwd=self.root)
        self.git("init", "--initial-branch=main")
        self.git("remote", "add", "origin", self.url)
        self.commit("the checkout under test")
        return self

    def pull(self) -> str:
        """Back on main at what the remote has (after a tool committed and pushed); its commit."""
        self.git("checkout", "-q", "main")
        self.git("fetch", "-q", "origin")
        self.git("reset", "-q", "--hard", "origin/main")
        return self.git("rev-parse", "HEAD")

    def commit(self, message: str) -> str:
        """Commit everything in the working clone and push it to main; return the commit."""
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        self.git("push", "-q", "origin", "main")
        return self.git("rev-parse", "HEAD")


ARGOCD_SETTINGS = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels: {app.kubernetes.io/part-of: argocd}
data:
  timeout.reconciliation: 10s
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-rbac-cm
  namespace: argocd
  labels: {app.kubernetes.io/part-of: argocd}
---
apiVersion: v1
kind: Secret
metadata:
  name: argocd-secret
  namespace: argocd
  labels: {app.kubernetes.io/part-of: argocd}
stringData:
  server.secretkey: e2e-only
"""


@dataclass
class ArgoCD:
    """Argo CD's application-controller and repo-server (the release pinned in versions.env),
    with their redis, reconciling the `argocd` namespace of the cluster."""

    cluster: Cluster
    kube: Kube
    workdir: Path
    processes: list[Component] = field(default_factory=list)

    def start(self) -> ArgoCD:
        binary = cached("argocd", "ARGOCD_VERSION")
        self.kube.run("create", "namespace", "argocd")
        self.kube.apply(ARGOCD_SETTINGS)
        home = self.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.processes.append(self.cluster.spawn("redis", [
            require_tool("redis-server"), "--port", "6379", "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir)]))
        env = {"PATH": os.pathsep.join([str(binary.parent), str(REPO_ROOT / ".bin"),
                                        os.environ["PATH"]]),
               "HOME": str(home), "TMPDIR": str(self.workdir),
               "KUBECONFIG": str(self.cluster.inner_kubeconfig),
               "ARGOCD_FAKE_IN_CLUSTER": "true", "ARGOCD_GPG_ENABLED": "false",
               "ARGOCD_ASK_PASS_SOCK": str(self.workdir / "askpass.sock")}
        self.processes.append(self.cluster.spawn("argocd-repo-server", [
            str(binary.parent / "argocd-repo-server"), "--address=127.0.0.1", "--port=8081",
            "--metrics-address=127.0.0.1", "--metrics-port=8084", "--disable-tls",
            "--client-ca-path=", "--redis=127.0.0.1:6379", "--logformat=text"], env=env))
        # Its metrics listener binds 0.0.0.0 (hard-coded): inside the private namespace.
        self.processes.append(self.cluster.spawn("argocd-application-controller", [
            str(binary.parent / "argocd-application-controller"), "--namespace=argocd",
            "--repo-server=127.0.0.1:8081", "--repo-server-plaintext",
            "--redis=127.0.0.1:6379", "--metrics-port=8082", "--app-resync=15",
            "--self-heal-timeout-seconds=1", "--logformat=text"], env=env))
        return self

    def logs(self, tail: int = 40) -> str:
        dead = [f"{p.name} exited {p.exit_code()}" for p in self.processes if not p.alive()]
        return "\n".join([*dead, *(f"--- {p.name} (last {tail} lines)\n{p.tail(tail)}"
                                   for p in self.processes[1:])])

    def app(self, name: str) -> dict:
        return self.kube.get("application", name, "argocd") or {}

    def refresh(self, name: str) -> None:
        """What `argocd app get --refresh` does: ask the controller to look at git now."""
        self.kube.run("annotate", "--overwrite", "-n", "argocd", "application", name,
                      "argocd.argoproj.io/refresh=normal")

    def sync(self, name: str, revision: str = "main") -> None:
        """What `argocd app sync` does through the API server: set the Application's operation
        (the controller then syncs it; prod has no automated policy)."""
        op = {"operation": {"initiatedBy": {"username": "e2e"},
                            "sync": {"revision": revision, "prune": True,
                                     "syncOptions": self.app(name)["spec"]["syncPolicy"]
                                     .get("syncOptions", [])}}}
        self.kube.run("patch", "-n", "argocd", "application", name, "--type=merge",
                      "-p", json.dumps(op))

    def status(self, name: str) -> tuple[str, str, str]:
        """(sync status, health status, synced revision)."""
        st = self.app(name).get("status", {})
        return (st.get("sync", {}).get("status", ""), st.get("health", {}).get("status", ""),
                st.get("sync", {}).get("revision", ""))

    def describe(self, name: str) -> str:
        st = self.app(name).get("status", {})
        bad = [f"  {r.get('kind')}/{r.get('name')}: {r.get('status')} "
               f"{r.get('health', {}).get('status', '')} {r.get('health', {}).get('message', '')}"
               for r in st.get("resources", [])
               if r.get("status") != "Synced" or r.get("health", {}).get("status") not in
               (None, "Healthy")]
        return (f"{name}: sync={st.get('sync', {}).get('status')} "
                f"health={st.get('health', {}).get('status')} "
                f"conditions={st.get('conditions')} "
                f"operation={st.get('operationState', {}).get('message')}\n"
                + "\n".join(bad) + "\n" + self.logs())

    def wait(self, name: str, sync: str = "Synced", health: str | None = "Healthy",
             revision: str | None = None, timeout: float = 240) -> None:
        def reached() -> bool:
            got_sync, got_health, got_rev = self.status(name)
            return (got_sync == sync and (health is None or got_health == health)
                    and (revision is None or got_rev == revision))
        wait_until(reached, timeout, f"Application {name} {sync}/{health or 'any'}"
                   + (f" at {revision[:12]}" if revision else ""), interval=2,
                   diagnose=lambda: self.describe(name))


@dataclass
class Kwok:
    """kwok: simulated nodes (the Node objects below, one per zone) and pod lifecycle (pods on
    them become Running and Ready). No kubelet, no containers, no network."""

    cluster: Cluster
    kube: Kube
    zones: tuple[str, ...] = ("zone-a", "zone-b", "zone-c")
    process: Component | None = None

    def start(self) -> Kwok:
        binary = cached("kwok", "KWOK_VERSION")
        self.process = self.cluster.spawn("kwok", [
            str(binary), f"--config={binary.parent / 'stages.yaml'}",
            f"--kubeconfig={self.cluster.inner_kubeconfig}", "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40", "--node-ip=127.0.0.1", "--cidr=10.0.0.1/24",
            "--server-address=127.0.0.1:10247"])
        nodes = [{"apiVersion": "v1", "kind": "Node",
                  "metadata": {"name": f"node-{zone}",
                               "annotations": {"kwok.x-k8s.io/node": "fake"},
                               "labels": {"kubernetes.io/hostname": f"node-{zone}",
                                          "kubernetes.io/os": "linux",
                                          "kubernetes.io/arch": "amd64",
                                          "topology.kubernetes.io/zone": zone,
                                          "type": "kwok"}},
                  "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                             "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"}}}
                 for zone in self.zones]
        self.kube.apply(nodes)

        def ready() -> bool:
            nodes = self.kube.items("nodes")
            return bool(nodes) and all(
                any(c["type"] == "Ready" and c["status"] == "True"
                    for c in n.get("status", {}).get("conditions", [])) for n in nodes)
        wait_until(ready, 60, "kwok to report the simulated nodes Ready",
                   diagnose=lambda: self.process.tail(40))
        return self


PLATFORM = """
# What docs/deployment.md (Bootstrap) says the platform provides, short of the controllers the
# test starts itself: the PriorityClass prod pods use and the shared Gateway the routes attach to.
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: agent-critical}
value: 100000
---
apiVersion: v1
kind: Namespace
metadata: {name: gateway-system}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: e2e}
spec: {controllerName: kustodian.io/e2e-helper}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared-gateway, namespace: gateway-system}
spec:
  gatewayClassName: e2e
  listeners:
    - name: https
      port: 443
      protocol: HTTPS
      tls: {certificateRefs: [{name: wildcard-tls}]}
      allowedRoutes: {namespaces: {from: All}}
"""


def platform_prerequisites(kube: Kube) -> None:
    """The platform's part (see PLATFORM) plus static PersistentVolumes for the StatefulSets'
    claims (there is no storage provisioner here)."""
    kube.apply(PLATFORM)
    kube.apply([{"apiVersion": "v1", "kind": "PersistentVolume",
                 "metadata": {"name": f"e2e-pv-{i}"},
                 "spec": {"capacity": {"storage": "100Gi"}, "accessModes": ["ReadWriteOnce"],
                          "persistentVolumeReclaimPolicy": "Retain",
                          "hostPath": {"path": f"/nonexistent/e2e-pv-{i}"}}}
                for i in range(12)])


class StatusHelper:
    """The one stand-in for controllers that cannot run here, written by this test (not by
    Argo CD). It writes status for exactly two kinds:
      HTTPRoute  the Gateway controller's route status (Accepted, ResolvedRefs) per parent;
                 there is no Gateway implementation here (no data plane).
      HorizontalPodAutoscaler  AbleToScale, as kube-controller-manager's HPA controller would
                 with a metrics pipeline; here there is no kubelet to report pod metrics, so the
                 HPA controller is not run (it would mark every HPA FailedGetResourceMetric).
    It follows metadata.generation like a controller does, every second."""

    KINDS = ("httproutes.gateway.networking.k8s.io", "horizontalpodautoscalers.autoscaling")

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="status-helper")
        self.errors: list[str] = []

    def start(self) -> StatusHelper:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(15)

    def _loop(self) -> None:
        while not self.stopping.wait(1.0):
            try:
                self.reconcile()
            except Exception as exc:  # keep reconciling; the test reports what went wrong
                self.errors.append(str(exc))

    def _patch_status(self, kind: str, obj: dict, status: dict) -> None:
        meta = obj["metadata"]
        self.kube.run("patch", kind, meta["name"], "-n", meta["namespace"], "--subresource=status",
                      "--type=merge", "-p", json.dumps({"status": status}), check=False)

    def reconcile(self) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for route in self._all(self.KINDS[0]):
            gen = route["metadata"].get("generation", 1)
            parents = route.get("status", {}).get("parents", [])
            if parents and all(c.get("observedGeneration") == gen
                               for p in parents for c in p.get("conditions", [])):
                continue
            conditions = [{"type": t, "status": "True", "reason": t, "message": "e2e helper",
                           "observedGeneration": gen, "lastTransitionTime": now}
                          for t in ("Accepted", "ResolvedRefs")]
            status = {"parents": [{"parentRef": ref, "controllerName": "kustodian.io/e2e-helper",
                                   "conditions": conditions}
                                  for ref in route["spec"].get("parentRefs", [])]}
            self._patch_status(self.KINDS[0], route, status)
        for hpa in self._all(self.KINDS[1]):
            if hpa.get("status", {}).get("conditions"):
                continue
            status = {"currentReplicas": hpa["spec"].get("minReplicas", 1),
                      "desiredReplicas": hpa["spec"].get("minReplicas", 1),
                      "conditions": [{"type": "AbleToScale", "status": "True",
                                      "reason": "ReadyForNewScale", "message": "e2e helper",
                                      "lastTransitionTime": now}]}
            self._patch_status(self.KINDS[1], hpa, status)

    def _all(self, kind: str) -> list[dict]:
        out = self.kube.run("get", kind, "-A", "-o", "json", check=False)
        return json.loads(out)["items"] if out.strip() else []


# The platform's secret store for this test: ESO's `fake` provider serves these values.
PLATFORM_SECRETS = {
    "agent/api-keys": "e2e-client-key",
    "agent/llm-api-key": "e2e-llm-key",
    "agent/redis-password": "e2e-redis-password",
    "agent/redis-backup": json.dumps({"access_key_id": "e2e", "secret_access_key": "e2e",
                                      "bucket": "e2e-backups"}),
}


@dataclass
class ExternalSecretsOperator:
    """The External Secrets Operator controller, with the ClusterSecretStore the overlays name
    (`platform-secrets`) backed by its `fake` provider."""

    cluster: Cluster
    kube: Kube
    process: Component | None = None

    def start(self) -> ExternalSecretsOperator:
        binary = cached("external-secrets", "EXTERNAL_SECRETS_VERSION")
        self.process = self.cluster.spawn("external-secrets", [
            str(binary), "--metrics-addr=127.0.0.1:8180", "--enable-leader-election=false",
            "--concurrent=2"],
            env={**os.environ, "KUBECONFIG": str(self.cluster.inner_kubeconfig)})
        store = {"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
                 "metadata": {"name": "platform-secrets"},
                 "spec": {"provider": {"fake": {"data": [
                     {"key": key, "value": value} for key, value in PLATFORM_SECRETS.items()]}}}}
        self.kube.apply([store])

        def store_ready() -> bool:
            got = self.kube.get("clustersecretstore", "platform-secrets") or {}
            return any(c["type"] == "Ready" and c["status"] == "True"
                       for c in got.get("status", {}).get("conditions", []))
        wait_until(store_ready, 90, "the ClusterSecretStore platform-secrets to be Ready",
                   diagnose=lambda: self.process.tail(40))
        return self
