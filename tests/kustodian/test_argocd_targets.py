"""Targets come from Argo CD: each hostile way an Application reaches a cluster is applied to
a scratch clone of this repository and the real gate is run, in full and in PR mode
(`--base-ref HEAD~1 --new-only`, what the PR workflow runs). Each passed before the gate
rendered Argo CD's own view of the repository."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from support.cli import copy_checkout, kustodian, shared_template

REPO = Path(__file__).resolve().parents[2]
URL = "https://github.com/acme/agent-gitops.git"

PRIVILEGED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: debug
  namespace: agent-prod
spec:
  replicas: 1
  selector:
    matchLabels: {app: debug}
  template:
    metadata:
      labels: {app: debug}
    spec:
      hostPID: true
      containers:
        - name: debug
          image: ghcr.io/acme/agent:1.0@sha256:{digest}
          securityContext:
            privileged: true
          volumeMounts: [{name: host, mountPath: /host}]
      volumes:
        - name: host
          hostPath: {path: /}
""".replace("{digest}", "ab" * 32)

PRIV_PATCH = """\
      kustomize:
        patches:
          - target: {kind: Deployment, name: agent}
            patch: |-
              - op: add
                path: /spec/template/spec/containers/0/securityContext/privileged
                value: true
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m",
        message)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's tracked files, committed once in a scratch git repository (one
    for all workers; never changed, see `clone`)."""
    return shared_template(tmp_path_factory, "argocd-targets-pristine", _pristine)


def _pristine(root: Path) -> None:
    root.mkdir()
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not rel.startswith(("tests/", "bench/", "apps/", "docs/")):
            dst = root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    git(root, "init", "-q", "-b", "main")
    commit(root, "base")
    git(root, "repack", "-a", "-d", "-q")        # one pack: a copy is a few files more


@pytest.fixture
def clone(pristine: Path, tmp_path: Path) -> Path:
    """The test's own copy of `pristine` (no remote: "this repository" is known from
    .kustodian.yaml only)."""
    return copy_checkout(pristine, tmp_path / "repo")


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if text.startswith("\n") else text)


def add_app(root: Path, name: str, text: str) -> None:
    write(root, {f"argocd/applications/{name}.yaml": text})
    kfile = root / "argocd/kustomization.yaml"
    kfile.write_text(kfile.read_text() + f"  - applications/{name}.yaml\n")


def gate(root: Path, *args: str) -> tuple[int, dict, str]:
    proc = kustodian("check", "--no-schema", "--no-conftest", "--format", "json", *args,
                     cwd=root)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr


def app(name: str, source: str, namespace: str = "agent-prod", kind: str = "Application"
        ) -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n"
            f"spec:\n  project: agent\n{source}  destination:\n"
            f"    server: https://kubernetes.default.svc\n    namespace: {namespace}\n")


def assert_caught(root: Path, rule: str, application: str) -> None:
    """The full check and the PR-mode check both fail on `rule`, named with the Application."""
    code, report, err = gate(root)
    hits = [f for f in report.get("findings", []) if f["rule"] == rule]
    assert code == 1 and hits, (code, err, [f["rule"] for f in report.get("findings", [])])
    assert any(application in (f.get("application") or "") for f in hits), hits
    assert all(f["env"] == "prod" for f in hits if f.get("application") == application)
    code, report, err = gate(root, "--base-ref", "HEAD~1", "--new-only")
    new = [f for f in report.get("findings", []) if f["rule"] == rule
           and f.get("status") == "new"]
    assert code == 1 and new, (code, err, report.get("summary"))


def edit_prod_app(root: Path, addition: str) -> None:
    path = root / "argocd/applications/prod.yaml"
    text = path.read_text()
    anchor = "    path: overlays/prod-canary\n"
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + addition))


@pytest.mark.parametrize("override, rule", [
    (PRIV_PATCH.replace("      ", "    ", 1).replace("\n      ", "\n    "), "no-privileged"),
    ("    kustomize:\n      images:\n        - ghcr.io/acme/agent=docker.io/evil/agent:latest\n",
     "image-tag-pinned"),
    ("    kustomize:\n      namespace: default\n", "no-default-namespace"),
    ("    kustomize:\n      components: [../../components/debug]\n", "no-privileged"),
    ("    kustomize:\n      namePrefix: x-\n      commonLabels: {team: x}\n"
     "      patches:\n        - target: {kind: Deployment}\n          patch: |-\n"
     "            - op: add\n              path: /spec/template/spec/hostPID\n"
     "              value: true\n", "no-host-namespaces"),
], ids=["patches", "images", "namespace", "components", "prefix-labels-patch"])
def test_application_kustomize_overrides(clone, override, rule):
    write(clone, {"components/debug/kustomization.yaml":
                  "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n"
                  "  - target: {kind: Deployment}\n    patch: |-\n      - op: add\n"
                  "        path: /spec/template/spec/containers/0/securityContext/privileged\n"
                  "        value: true\n"})
    commit(clone, "a component nobody includes yet")
    edit_prod_app(clone, override)
    commit(clone, "prod: Application-level kustomize options")
    assert_caught(clone, rule, "agent-prod")


def test_argocd_source_parameter_file(clone):
    """`.argocd-source-<app>.yaml` in the source dir is merged into the source by Argo CD."""
    write(clone, {"overlays/prod-canary/.argocd-source-agent-prod.yaml": textwrap.dedent("""\
        kustomize:
          patches:
            - target: {kind: Deployment, name: agent}
              patch: |-
                - op: add
                  path: /spec/template/spec/containers/0/securityContext/privileged
                  value: true
        """)})
    commit(clone, "parameter override file")
    assert_caught(clone, "no-privileged", "agent-prod")


def test_plain_directory_application(clone):
    write(clone, {"tools/debug/nested/debug.yaml": PRIVILEGED,
                  "tools/debug/nested/skip.txt": "not a manifest\n"})
    add_app(clone, "debug", app("debug", f"  source:\n    repoURL: {URL}\n    path: tools/debug\n"
                                         "    directory:\n      recurse: true\n"
                                         "      include: '*.yaml'\n"))
    commit(clone, "a plain-manifest Application")
    assert_caught(clone, "no-privileged", "debug")


def test_helm_application_values(clone):
    """A chart in this repository, made privileged by the Application's own Helm values."""
    template = PRIVILEGED.replace("privileged: true", "privileged: {{ .Values.privileged }}")
    write(clone, {"tools/chart/Chart.yaml": "apiVersion: v2\nname: debug\nversion: 0.1.0\n",
                  "tools/chart/values.yaml": "privileged: false\n",
                  "tools/chart/templates/debug.yaml": template})
    add_app(clone, "chart", app("chart", f"  source:\n    repoURL: {URL}\n    path: tools/chart\n"
                                         "    helm:\n      valuesObject: {privileged: true}\n"))
    commit(clone, "a Helm Application")
    assert_caught(clone, "no-privileged", "chart")


def test_pr_editing_only_what_an_application_deploys(clone):
    """A first PR adds a harmless plain-directory Application; a second edits only a file in
    that dir (no overlay reads it): PR mode still renders the Application's target."""
    write(clone, {"tools/debug/debug.yaml": PRIVILEGED.replace("privileged: true",
                                                               "privileged: false")})
    add_app(clone, "debug", app("debug", f"  source:\n    repoURL: {URL}\n    path: tools/debug\n"))
    commit(clone, "a harmless Application")
    write(clone, {"tools/debug/debug.yaml": PRIVILEGED})
    commit(clone, "only the deployed file changes")
    code, report, err = gate(clone, "--base-ref", "HEAD~1", "--new-only")
    new = [f for f in report.get("findings", []) if f["status"] == "new"]
    assert code == 1 and {f["rule"] for f in new} >= {"no-privileged"}, (err, new)
    # the Application's target names it; the file is also checked as a plain manifest
    assert "debug" in {f.get("application") for f in new}


def test_multi_source_application(clone):
    write(clone, {"tools/debug/debug.yaml": PRIVILEGED})
    path = clone / "argocd/applications/prod.yaml"
    text = path.read_text().replace(
        "  source:\n", "  sources:\n    - repoURL: https://github.com/acme/agent-gitops.git\n"
        "      targetRevision: main\n      path: tools/debug\n    -\n", 1)
    text = text.replace("    repoURL: https://github.com/acme/agent-gitops.git\n"
                        "    targetRevision: main\n    path: overlays/prod-canary\n",
                        "      repoURL: https://github.com/acme/agent-gitops.git\n"
                        "      targetRevision: main\n      path: overlays/prod-canary\n")
    path.write_text(text)
    commit(clone, "a second source")
    assert_caught(clone, "no-privileged", "agent-prod")


def test_app_of_apps_children(clone):
    # the env mapping is the base's (PR mode obeys the base revision's config, not the PR's)
    (clone / ".kustodian.yaml").write_text((clone / ".kustodian.yaml").read_text().replace(
        "overlays:\n", "applications:\n  tools: {env: platform}\noverlays:\n", 1))
    commit(clone, "map the platform's tools Application")
    write(clone, {"tools/debug/debug.yaml": PRIVILEGED,
                  "tools/apps/child.yaml": app("child", f"  source:\n    repoURL: {URL}\n"
                                                        "    path: tools/debug\n")})
    add_app(clone, "tools", app("tools", f"  source:\n    repoURL: {URL}\n    path: tools/apps\n",
                                namespace="argocd"))
    commit(clone, "an app of apps")
    assert_caught(clone, "no-privileged", "child")


@pytest.mark.parametrize("generator", [
    "    - list:\n        elements:\n          - {name: debug, dir: tools/debug}\n",
    f"    - git:\n        repoURL: {URL}\n        revision: HEAD\n"
    "        directories:\n          - path: tools/*\n",
    "    - matrix:\n        generators:\n          - list:\n"
    "              elements: [{name: debug}]\n"
    f"          - git:\n              repoURL: {URL}\n              revision: HEAD\n"
    "              files: [{path: 'tools/*/config.json'}]\n",
], ids=["list", "git-directories", "matrix-git-files"])
def test_applicationset(clone, generator):
    write(clone, {"tools/debug/debug.yaml": PRIVILEGED,
                  "tools/debug/config.json": '{"dir": "tools/debug"}\n'})
    first = generator.split("\n")[0]
    path = "{{path}}" if "directories" in generator else "{{dir}}"
    name = "{{name}}" if "git" not in first else "{{path.basename}}"
    add_app(clone, "set", (
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: set\n"
        "spec:\n  generators:\n" + generator.replace("    ", "  ", 1) + "  template:\n"
        f"    metadata:\n      name: 'gen-{name}'\n    spec:\n      project: agent\n"
        f"      source:\n        repoURL: {URL}\n        path: '{path}'\n"
        "      destination:\n        server: https://kubernetes.default.svc\n"
        "        namespace: agent-prod\n"))
    commit(clone, "an ApplicationSet")
    assert_caught(clone, "no-privileged", "gen-")


def test_source_hydrator_dry_source(clone):
    write(clone, {"tools/debug/debug.yaml": PRIVILEGED})
    add_app(clone, "hydrated", app("hydrated", "  sourceHydrator:\n    drySource:\n"
                                               f"      repoURL: {URL}\n      path: tools/debug\n"
                                               "      targetRevision: main\n"
                                               "    syncSource:\n      targetBranch: env/prod\n"
                                               "      path: hydrated\n"))
    commit(clone, "a hydrated Application")
    assert_caught(clone, "no-privileged", "hydrated")


@pytest.mark.parametrize("source, reason", [
    ("  source:\n    repoURL: https://github.com/evil/elsewhere.git\n    path: x\n",
     "not this repository"),
    ("  source:\n    repoURL: https://charts.example.com\n    chart: evil\n"
     "    targetRevision: 1.0.0\n", "chart repository"),
    ("  source:\n    repoURL: oci://registry.example.com/charts\n    path: .\n", "OCI"),
    (f"  source:\n    repoURL: {URL}\n    path: overlays/dev\n    plugin: {{name: x}}\n",
     "plugin"),
], ids=["remote-git", "chart-repo", "oci", "plugin"])
def test_unrenderable_sources_are_findings(clone, source, reason):
    add_app(clone, "outside", app("outside", source))
    commit(clone, "an Application the gate cannot render")
    code, report, err = gate(clone)
    hits = [f for f in report["findings"] if f["rule"] == "argocd-source-unrendered"]
    assert code == 1 and hits and reason in hits[0]["message"], (err, hits)
    assert hits[0]["application"] == "outside"
    assert hits[0]["file"] == "argocd/applications/outside.yaml"


def test_unknown_generator_and_missing_env_are_errors(clone):
    add_app(clone, "clusters", textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: ApplicationSet
        metadata: {name: clusters}
        spec:
          generators: [{clusters: {}}]
          template: {metadata: {name: x}, spec: {project: agent}}
        """))
    add_app(clone, "noenv", app("noenv", f"  source:\n    repoURL: {URL}\n    path: base\n",
                                namespace="misc"))
    commit(clone, "errors")
    code, _, err = gate(clone)
    assert code == 2
    assert "'clusters' generator needs a live cluster" in err
    assert "Application noenv (base): no environment" in err and "applications:" in err


def test_undeployed_live_overlay_without_env_is_an_error(clone):
    """An overlay whose env cannot be derived is an error that says how to map it."""
    subprocess.run(["cp", "-r", str(clone / "overlays/prod"), str(clone / "overlays/live")],
                   check=True)
    subprocess.run(["cp", "-r", str(clone / "overlays/prod"), str(clone / "overlays/prd")],
                   check=True)
    commit(clone, "live and prd")
    code, report, err = gate(clone)
    assert code == 2 and "overlays/live: no environment" in err
    assert "`overlays: {overlays/live: {env: prod}}`" in err
    assert "overlays/prd" not in err    # prd is prod
    assert {"target": "overlays/prd", "kind": "overlay", "env": "prod",
            "applications": []} in report["summary"]["targets"]


def test_report_lists_the_application_behind_each_target(clone):
    code, report, err = gate(clone)
    assert code == 0, err
    targets = {t["target"]: (t["env"], t["applications"]) for t in report["summary"]["targets"]}
    assert targets["overlays/dev"] == ("dev", ["agent-dev"])
    assert targets["overlays/prod-canary"] == ("prod", ["agent-prod"])
    assert targets["argocd"] == ("platform", ["agent-root"])
    text = kustodian("check", "--no-schema", "--no-conftest", cwd=clone).stdout
    assert "  overlays/staging-canary  [staging]  Application agent-staging" in text
