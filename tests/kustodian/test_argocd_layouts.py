"""`kustodian check` with no PATH at the root of repositories laid out like the two common
references: argocd-example-apps (one dir per tool, a Helm app of apps, no overlays/) and
gitops-environment-promotion (envs/<env> over base/ and Component variants/). Every env is
rendered and checked, each target under its env."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support.cli import kustodian, write_tree

URL = "https://github.com/argoproj/argocd-example-apps.git"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: guestbook-ui
spec:
  replicas: 1
  selector:
    matchLabels: {app: guestbook-ui}
  template:
    metadata:
      labels: {app: guestbook-ui}
    spec:
      containers:
        - name: guestbook-ui
          image: gcr.io/heptio-images/ks-guestbook-demo:0.2
          ports: [{containerPort: 80}]
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: guestbook-ui
spec:
  ports: [{port: 80, targetPort: 80}]
  selector: {app: guestbook-ui}
"""


def check(root: Path) -> tuple[int, dict, str]:
    proc = kustodian("check", "--no-schema", "--no-conftest", "--format", "json", cwd=root)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_argocd_example_apps_layout(tmp_path):
    apps_template = """\
{{- range .Values.applications }}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {{ .name }}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: {{ $.Values.repoURL }}
    path: {{ .path }}
  destination:
    server: https://kubernetes.default.svc
    namespace: {{ .namespace }}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
{{- end }}
"""
    root = write_tree(tmp_path / "example-apps", {
        "guestbook/guestbook-ui-deployment.yaml": DEPLOYMENT,
        "guestbook/guestbook-ui-svc.yaml": SERVICE,
        "kustomize-guestbook/guestbook-ui-deployment.yaml": DEPLOYMENT,
        "kustomize-guestbook/guestbook-ui-svc.yaml": SERVICE,
        "kustomize-guestbook/kustomization.yaml":
            "namePrefix: kustomize-\nresources:\n- guestbook-ui-deployment.yaml\n"
            "- guestbook-ui-svc.yaml\n",
        "helm-guestbook/Chart.yaml": "apiVersion: v2\nname: helm-guestbook\nversion: 0.1.0\n",
        "helm-guestbook/values.yaml": "replicaCount: 1\nimage: "
                                      "gcr.io/heptio-images/ks-guestbook-demo:0.1\n",
        "helm-guestbook/values-production.yaml": "replicaCount: 3\n",
        "helm-guestbook/templates/deployment.yaml": DEPLOYMENT.replace(
            "name: guestbook-ui\nspec:\n  replicas: 1",
            "name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicaCount }}").replace(
            "gcr.io/heptio-images/ks-guestbook-demo:0.2", "{{ .Values.image }}"),
        "apps/Chart.yaml": "apiVersion: v2\nname: applications\nversion: 0.1.0\n",
        "apps/values.yaml": f"repoURL: {URL}\napplications:\n"
                            "  - {name: guestbook, path: guestbook, namespace: guestbook-dev}\n"
                            "  - {name: kustomize-guestbook, path: kustomize-guestbook, "
                            "namespace: kustomize-guestbook-staging}\n"
                            "  - {name: helm-guestbook, path: helm-guestbook, "
                            "namespace: helm-guestbook-prod}\n",
        "apps/templates/applications.yaml": apps_template,
        "root-app.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n"
                         "  name: apps\n  namespace: argocd\n  labels: {kustodian.io/env: "
                         f"platform}}\nspec:\n  project: default\n  source:\n    repoURL: {URL}\n"
                         "    path: apps\n  destination:\n"
                         "    server: https://kubernetes.default.svc\n    namespace: argocd\n",
    })
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "remote", "add", "origin", "git@github.com:argoproj/"
                    "argocd-example-apps.git"], cwd=root, check=True)
    code, report, err = check(root)
    assert code in (0, 1) and not report["summary"]["errors"], err
    targets = {t["target"]: (t["env"], t["applications"]) for t in report["summary"]["targets"]}
    assert targets["apps@apps"] == ("platform", ["apps"])
    assert targets["guestbook@guestbook"] == ("dev", ["guestbook"])
    assert targets["kustomize-guestbook@kustomize-guestbook"] == ("staging",
                                                                  ["kustomize-guestbook"])
    assert targets["helm-guestbook@helm-guestbook"] == ("prod", ["helm-guestbook"])
    prod = [f for f in report["findings"] if f.get("application") == "helm-guestbook"]
    assert prod and {f["env"] for f in prod} == {"prod"}
    assert any(f["name"] == "helm-guestbook" for f in prod)        # the release name
    kustomized = [f for f in report["findings"] if f.get("application") == "kustomize-guestbook"]
    assert any(f["name"] == "kustomize-guestbook-ui" for f in kustomized)


def test_gitops_environment_promotion_layout(tmp_path):
    component = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
    env = ("resources:\n- ../../base\ncomponents:\n- ../../variants/{variant}\n"
           "namespace: {name}\nnamePrefix: {name}-\n")
    root = write_tree(tmp_path / "promotion", {
        "base/kustomization.yaml": "resources:\n- deployment.yml\n- service.yml\n",
        "base/deployment.yml": DEPLOYMENT,
        "base/service.yml": SERVICE,
        "variants/prod/kustomization.yaml": component + "commonLabels: {tier: prod}\n",
        "variants/non-prod/kustomization.yaml": component + "commonLabels: {tier: test}\n",
        **{f"envs/{name}/kustomization.yaml": env.format(name=name, variant=variant)
           for name, variant in (("qa", "non-prod"), ("staging-us", "non-prod"),
                                 ("prod-us", "prod"), ("prod-eu", "prod"))},
    })
    (root / ".git").mkdir()
    code, report, err = check(root)
    assert code in (0, 1) and not report["summary"]["errors"], err
    targets = {t["target"]: t["env"] for t in report["summary"]["targets"]}
    assert targets == {"envs/qa": "qa", "envs/staging-us": "staging", "envs/prod-us": "prod",
                       "envs/prod-eu": "prod"}
    assert {f["env"] for f in report["findings"]} == {"qa", "staging", "prod"}


def test_a_chart_no_application_renders_is_checked_with_its_defaults(tmp_path):
    """A Helm chart dir is not skipped because no Application points at it: it is rendered
    with its default values under its env, and without an env it is an error."""
    template = DEPLOYMENT.replace("ports: [{containerPort: 80}]",
                                  "securityContext: {privileged: {{ .Values.privileged }}}")
    root = write_tree(tmp_path / "charts-only", {
        "web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        "web/values.yaml": "privileged: true\n",
        "web/templates/deployment.yaml": template,
    })
    (root / ".git").mkdir()
    code, report, err = check(root)
    assert code == 2 and "web: no environment" in err and "overlays: {web: {env: prod}}" in err
    (root / ".kustodian.yaml").write_text("overlays:\n  web: {env: prod}\n")
    code, report, err = check(root)
    assert code == 1, err
    hits = [f for f in report["findings"] if f["rule"] == "no-privileged"]
    assert hits and hits[0]["env"] == "prod"
