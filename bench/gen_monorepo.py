#!/usr/bin/env python3
"""Generate a synthetic Kustomize monorepo: N apps x 4 environments, deterministic (seeded).

Layout written under OUT (compare with the real repository's docs/architecture.md):

    base/<app>/                 Deployment (or StatefulSet), Service, ServiceAccount,
                                configMapGenerator; hardened by default
    base/<app>/canary/          kind: Component - canary Deployment, canary Service, HTTPRoute split
    components/pod-defaults/    kind: Component shared by every overlay (JSON6902 + strategic merge)
    overlays/<app>/dev|staging|prod/
                                namespace, images:, strategic-merge and JSON6902 patches,
                                configMapGenerator merge, PDB / HPA / NetworkPolicy where due
    overlays/<app>/prod-canary/ resources [../prod] + the app's canary component
    .kustodian.yaml             every overlay mapped to its environment
    bench-meta.json             what was generated, incl. the deliberate violations and the rule
                                each one must trip
    rendered/<app>/<env>.yaml   (--render) `kustomize build` of every overlay, for the tools that
                                cannot render kustomize themselves

A small, seeded fraction of apps (--violation-rate) carries one deliberate violation each, set
from an overlay patch or `images:` entry, so that the rules have work and the source mapping has
something to trace.

    python bench/gen_monorepo.py --apps 250 --out bench/out/mono-250 --render
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ENVS = ("dev", "staging", "prod", "prod-canary")
KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
COMPONENT = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"

# violation kind -> (overlay it is set in, rule id(s) kustodian must report)
VIOLATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "privileged": ("prod", ("no-privileged",)),
    "latest-tag": ("dev", ("image-tag-pinned",)),
    "writable-root-fs": ("staging", ("read-only-root-filesystem",)),
    "run-as-root": ("staging", ("run-as-non-root",)),
    "host-path": ("dev", ("no-host-path",)),
    "missing-limits": ("staging", ("resource-limits",)),
    "selector-mismatch": ("prod", ("service-selector-matches",)),
    "missing-pdb": ("prod", ("pdb-required",)),
    "added-capability": ("dev", ("no-added-capabilities",)),
    "no-digest": ("prod", ("image-digest-pinned",)),
}


@dataclass
class AppSpec:
    """What one generated app looks like (all choices drawn from the seeded RNG)."""

    name: str
    kind: str                      # Deployment or StatefulSet
    port: int
    init_container: bool
    hpa: bool
    version: str
    digest: str
    canary_digest: str
    violation: str | None = None
    overlays: list[str] = field(default_factory=list)


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def plan_apps(count: int, seed: int, violation_rate: float) -> list[AppSpec]:
    """Draw every app's shape; violations go to a seeded sample, cycling through VIOLATIONS."""
    rng = random.Random(seed)
    apps = []
    for i in range(1, count + 1):
        name = f"app-{i:04d}"
        version = f"1.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        apps.append(AppSpec(
            name=name,
            kind="StatefulSet" if rng.random() < 0.1 else "Deployment",
            port=rng.choice((8000, 8080, 9000)),
            init_container=rng.random() < 0.3,
            hpa=rng.random() < 0.5,
            version=version,
            digest=_digest(f"{name}:{version}"),
            canary_digest=_digest(f"{name}:{version}-canary"),
        ))
    bad = round(count * violation_rate)
    kinds = list(VIOLATIONS)
    for n, app in enumerate(rng.sample(apps, bad) if bad else []):
        app.violation = kinds[n % len(kinds)]
    return apps


# ---------------------------------------------------------------- base


def _container(app: AppSpec, name: str, image: str) -> str:
    return f"""\
        - name: {name}
          image: {image}
          ports:
            - name: http
              containerPort: {app.port}
          envFrom:
            - configMapRef:
                name: {app.name}-config
          env:
            - name: LOG_LEVEL
              value: info
          livenessProbe:
            httpGet: {{path: /healthz, port: http}}
          readinessProbe:
            httpGet: {{path: /readyz, port: http}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: 500m, memory: 256Mi}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            privileged: false
            capabilities:
              drop: [ALL]
          volumeMounts:
            - name: tmp
              mountPath: /tmp
"""


def _init_container(app: AppSpec, image: str) -> str:
    return f"""\
      initContainers:
        - name: migrate
          image: {image}
          command: [/app/migrate]
          resources:
            requests: {{cpu: 50m, memory: 64Mi}}
            limits: {{cpu: 200m, memory: 128Mi}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [ALL]
"""


def _spread(app: AppSpec, track: str | None = None) -> str:
    track_label = f"\n              track: {track}" if track else ""
    return f"""\
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: topology.kubernetes.io/zone
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              app.kubernetes.io/name: {app.name}{track_label}
"""


def workload(app: AppSpec, *, track: str = "stable", name: str | None = None,
             image: str | None = None, replicas: int = 1, spread: bool = False) -> str:
    """The app's hardened pod-bearing workload (pod-level securityContext inherited)."""
    name = name or app.name
    spread_text = _spread(app, track) if spread else ""
    image = image or f"ghcr.io/acme/{app.name}"
    extra = f"  serviceName: {app.name}-headless\n" if app.kind == "StatefulSet" else ""
    init = _init_container(app, image) if app.init_container else ""
    return f"""\
apiVersion: apps/v1
kind: {app.kind}
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {app.name}
    track: {track}
spec:
{extra}  replicas: {replicas}
  selector:
    matchLabels:
      app.kubernetes.io/name: {app.name}
      track: {track}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {app.name}
        track: {track}
      annotations:
        bench.kustodian.io/generated: "true"
    spec:
      serviceAccountName: {app.name}
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
{spread_text}{init}      containers:
{_container(app, "app", image)}      volumes:
        - name: tmp
          emptyDir: {{}}
"""


def service(app: AppSpec, *, name: str | None = None, track: str = "stable",
            headless: bool = False) -> str:
    cluster_ip = "  clusterIP: None\n" if headless else ""
    return f"""\
apiVersion: v1
kind: Service
metadata:
  name: {name or app.name}
  labels:
    app.kubernetes.io/name: {app.name}
spec:
{cluster_ip}  selector:
    app.kubernetes.io/name: {app.name}
    track: {track}
  ports:
    - name: http
      port: 80
      targetPort: http
"""


def write_base(root: Path, app: AppSpec) -> None:
    base = root / "base" / app.name
    files = {
        "workload.yaml": workload(app),
        "service.yaml": service(app),
        "serviceaccount.yaml": f"""\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {app.name}
automountServiceAccountToken: false
""",
    }
    resources = ["workload.yaml", "service.yaml", "serviceaccount.yaml"]
    if app.kind == "StatefulSet":
        files["headless.yaml"] = service(app, name=f"{app.name}-headless", headless=True)
        resources.append("headless.yaml")
    files["kustomization.yaml"] = KUSTOMIZATION + f"""\
labels:
  - pairs:
      app.kubernetes.io/part-of: bench
resources:
{_list(resources)}
configMapGenerator:
  - name: {app.name}-config
    literals:
      - APP_NAME={app.name}
      - FEATURE_FLAGS=search,history
"""
    _write_all(base, files)
    write_canary_component(base / "canary", app)


def write_canary_component(path: Path, app: AppSpec) -> None:
    """Per-app Component: canary workload copy, canary Service, HTTPRoute weight split."""
    canary = AppSpec(**{**asdict(app), "init_container": False})
    files = {
        "workload.yaml": workload(canary, track="canary", name=f"{app.name}-canary",
                                  image=f"{app.name}-canary", replicas=2, spread=True),
        "service.yaml": service(app, name=f"{app.name}-canary", track="canary"),
        "httproute.yaml": f"""\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {app.name}
spec:
  parentRefs:
    - name: public
      namespace: gateway
  rules:
    - backendRefs:
        - name: {app.name}
          port: 80
          weight: 90
        - name: {app.name}-canary
          port: 80
          weight: 10
""",
        "kustomization.yaml": COMPONENT + "resources:\n  - workload.yaml\n  - service.yaml\n"
                                          "  - httproute.yaml\n",
    }
    _write_all(path, files)


def write_shared_component(root: Path) -> None:
    """components/pod-defaults: one JSON6902 and one strategic-merge patch for every workload."""
    _write_all(root / "components" / "pod-defaults", {"kustomization.yaml": COMPONENT + """\
patches:
  - target:
      group: apps
      kind: (Deployment|StatefulSet)
    patch: |-
      - op: add
        path: /spec/template/metadata/annotations/bench.kustodian.io~1defaults
        value: v1
  - target:
      group: apps
      kind: (Deployment|StatefulSet)
    patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: any
      spec:
        revisionHistoryLimit: 5
        template:
          spec:
            terminationGracePeriodSeconds: 30
"""})


# ---------------------------------------------------------------- overlays


def _list(items: list[str], indent: str = "  ") -> str:
    return "".join(f"{indent}- {item}\n" for item in items)


def _write_all(path: Path, files: dict[str, str]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def _pdb(app: AppSpec) -> str:
    return f"""\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {app.name}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {app.name}
"""


def _netpol(app: AppSpec) -> str:
    return f"""\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {app.name}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: {app.name}
  policyTypes: [Ingress]
  ingress:
    - ports:
        - port: http
"""


def _hpa(app: AppSpec) -> str:
    return f"""\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {app.name}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {app.kind}
    name: {app.name}
  minReplicas: 3
  maxReplicas: 10
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {{type: Utilization, averageUtilization: 70}}
"""


def _replicas_patch(app: AppSpec, replicas: int, spread: bool) -> str:
    spread_text = _spread(app) if spread else ""
    return f"""\
apiVersion: apps/v1
kind: {app.kind}
metadata:
  name: {app.name}
spec:
  replicas: {replicas}
  template:
    spec:
{spread_text}      containers:
        - name: app
          resources:
            requests: {{cpu: 250m, memory: 256Mi}}
            limits: {{cpu: "1", memory: 512Mi}}
"""


def _violation_patch(app: AppSpec) -> tuple[str, str] | None:
    """(file name, strategic-merge or JSON6902 patch text) setting the app's violation."""
    smp_head = f"apiVersion: apps/v1\nkind: {app.kind}\nmetadata:\n  name: {app.name}\nspec:\n"
    container = smp_head + "  template:\n    spec:\n      containers:\n        - name: app\n"
    patches = {
        "privileged": container + "          securityContext:\n            privileged: true\n",
        "writable-root-fs": container
        + "          securityContext:\n            readOnlyRootFilesystem: false\n",
        "run-as-root": smp_head + "  template:\n    spec:\n      securityContext:\n"
        "        runAsUser: 0\n        runAsNonRoot: false\n",
        "host-path": smp_head + "  template:\n    spec:\n      volumes:\n        - name: docker\n"
        "          hostPath:\n            path: /var/run/docker.sock\n",
        "added-capability": container + "          securityContext:\n            capabilities:\n"
        "              add: [SYS_ADMIN]\n",
        "missing-limits": "- op: remove\n"
        "  path: /spec/template/spec/containers/0/resources/limits\n",
        "selector-mismatch": "- op: replace\n  path: /spec/selector/app.kubernetes.io~1name\n"
        f"  value: {app.name}-api\n",
    }
    text = patches.get(app.violation or "")
    return ("violation.yaml", text) if text else None


def write_overlay(root: Path, app: AppSpec, env: str) -> str:
    """Write overlays/<app>/<env>/ and return its repository-relative path."""
    rel = f"overlays/{app.name}/{env}"
    path = root / rel
    up = "../../.."
    files: dict[str, str] = {}
    violation = app.violation if app.violation and VIOLATIONS[app.violation][0] == env else None
    if env == "prod-canary":
        tag = f"{app.version}-rc1"
        files["kustomization.yaml"] = KUSTOMIZATION + f"""\
namespace: {app.name}-prod
resources:
  - ../prod
components:
  - {up}/base/{app.name}/canary
images:
  - name: {app.name}-canary
    newName: ghcr.io/acme/{app.name}
    newTag: "{tag}"
    digest: {app.canary_digest}
patches:
  - target:
      group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: {app.name}
    patch: |-
      - op: replace
        path: /spec/rules/0/backendRefs/0/weight
        value: 75
      - op: replace
        path: /spec/rules/0/backendRefs/1/weight
        value: 25
"""
        _write_all(path, files)
        return rel

    resources = [f"{up}/base/{app.name}"]
    patches: list[str] = []
    replicas = {"dev": 1, "staging": 2, "prod": 3}[env]
    files["patches/replicas.yaml"] = _replicas_patch(app, replicas, spread=env == "prod")
    patches.append("  - path: patches/replicas.yaml\n")
    if env in ("staging", "prod") and violation != "missing-pdb":
        files["pdb.yaml"] = _pdb(app)
        resources.append("pdb.yaml")
    if env == "prod":
        files["networkpolicy.yaml"] = _netpol(app)
        resources.append("networkpolicy.yaml")
        if app.hpa:
            files["hpa.yaml"] = _hpa(app)
            resources.append("hpa.yaml")
            # JSON6902: the HPA owns the replica count
            patches.append(f"  - target:\n      kind: {app.kind}\n      name: {app.name}\n"
                           "    patch: |-\n      - op: remove\n        path: /spec/replicas\n")
    found = _violation_patch(app) if violation else None
    if found:
        fname, text = found
        files[f"patches/{fname}"] = text
        if text.startswith("- op:"):
            target = "Service" if violation == "selector-mismatch" else app.kind
            patches.append(f"  - path: patches/{fname}\n    target:\n      kind: {target}\n"
                           f"      name: {app.name}\n")
        else:
            patches.append(f"  - path: patches/{fname}\n")
    image = f"  - name: ghcr.io/acme/{app.name}\n"
    if violation == "latest-tag":
        image += "    newTag: latest\n"
    elif env == "prod" and violation != "no-digest":
        image += f'    newTag: "{app.version}"\n    digest: {app.digest}\n'
    else:
        image += f'    newTag: "{app.version}"\n'
    files["kustomization.yaml"] = KUSTOMIZATION + f"""\
namespace: {app.name}-{env}
resources:
{_list(resources)}components:
  - {up}/components/pod-defaults
images:
{image}patches:
{"".join(patches)}configMapGenerator:
  - name: {app.name}-config
    behavior: merge
    literals:
      - ENVIRONMENT={env}
"""
    _write_all(path, files)
    return rel


def write_config(root: Path, apps: list[AppSpec]) -> None:
    """.kustodian.yaml: every overlay mapped to its environment (canary overlays marked)."""
    lines = ["# Generated by bench/gen_monorepo.py", "environments:",
             "  order: [dev, staging, prod]", "overlays:"]
    for app in apps:
        for env in ENVS:
            rel = f"overlays/{app.name}/{env}"
            if env == "prod-canary":
                lines.append(f"  {rel}: {{env: prod, canary: true, "
                             f"stable: overlays/{app.name}/prod}}")
            else:
                lines.append(f"  {rel}: {{env: {env}}}")
    lines += ["ignore:", "  - path: rendered/**",
              "    reason: pre-rendered copies of the overlays, for the peer tools (--render)"]
    (root / ".kustodian.yaml").write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- render


def kustomize_bin() -> str:
    local = REPO_ROOT / ".bin" / "kustomize"
    found = str(local) if local.exists() else shutil.which("kustomize")
    if not found:
        sys.exit("gen_monorepo: kustomize not found; run `make setup` (installs .bin/kustomize)")
    return found


def render_all(root: Path, overlays: list[str], jobs: int) -> None:
    """`kustomize build` every overlay once into rendered/<app>/<env>.yaml."""
    binary = kustomize_bin()

    def build(rel: str) -> None:
        out = root / "rendered" / (rel.removeprefix("overlays/") + ".yaml")
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([binary, "build", str(root / rel)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"kustomize build {rel} failed: {proc.stderr.strip()}")
        out.write_text(proc.stdout)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(build, overlays))


def init_git(root: Path) -> None:
    """Make OUT a git repository with one commit on `main` (PR-mode benchmarks branch off it)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    (root / ".gitignore").write_text(
        "/rendered/\n/bench-meta.json\n/.complete\n/rendered-count.txt\n/overlays.txt\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "generated"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)


# ---------------------------------------------------------------- main


def generate(out: Path, apps_count: int, seed: int = 42, violation_rate: float = 0.05,
             render: bool = False, git: bool = False, jobs: int | None = None) -> dict:
    """Write the monorepo into `out` (which must not exist or be empty) and return its metadata."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; pick another --out or remove it")
    apps = plan_apps(apps_count, seed, violation_rate)
    write_shared_component(out)
    overlays: list[str] = []
    for app in apps:
        write_base(out, app)
        app.overlays = [write_overlay(out, app, env) for env in ENVS]
        overlays += app.overlays
    write_config(out, apps)
    violations = []
    for app in apps:
        if app.violation:
            env, rules = VIOLATIONS[app.violation]
            hit = [f"overlays/{app.name}/{env}"]
            if env == "prod":
                hit.append(f"overlays/{app.name}/prod-canary")
            violations.append({"app": app.name, "violation": app.violation, "rules": rules,
                               "overlays": hit})
    meta = {"apps": apps_count, "seed": seed, "envs": list(ENVS), "overlays": overlays,
            "violations": violations}
    (out / "bench-meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    if git:
        init_git(out)
    if render:
        render_all(out, overlays, jobs or os.cpu_count() or 1)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, required=True, help="number of apps (N)")
    parser.add_argument("--out", type=Path, required=True, help="directory to create")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--violation-rate", type=float, default=0.05,
                        help="fraction of apps with one deliberate violation (default 0.05)")
    parser.add_argument("--render", action="store_true",
                        help="also write rendered/<app>/<env>.yaml with kustomize build")
    parser.add_argument("--git", action="store_true", help="git init + commit the tree on main")
    parser.add_argument("--jobs", type=int, default=None, help="parallel kustomize builds")
    args = parser.parse_args(argv)
    if args.apps < 1 or not 0 <= args.violation_rate <= 1:
        parser.error("--apps must be >= 1 and --violation-rate within [0, 1]")
    try:
        meta = generate(args.out, args.apps, args.seed, args.violation_rate, args.render,
                        args.git, args.jobs)
    except (FileExistsError, RuntimeError) as exc:
        print(f"gen_monorepo: error: {exc}", file=sys.stderr)
        return 2
    print(f"gen_monorepo: {args.apps} apps, {len(meta['overlays'])} overlays, "
          f"{len(meta['violations'])} deliberate violations -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
