"""Custom resources that carry a pod are judged by the pod rules: the Prometheus operator's
kinds (the pod spec fields sit right under `spec`), Argo Rollouts (`spec.template`), and any
kind the repository config names with its pod spec path."""

from __future__ import annotations

import textwrap

import pytest
from support.cli import kustodian as run_cli
from support.cli import line_of

DIGEST = "sha256:" + "a" * 64
OPERATOR_KINDS = ("Prometheus", "PrometheusAgent", "Alertmanager", "ThanosRuler")

HOSTILE_POD_FIELDS = """\
  hostNetwork: true
  hostPID: true
  containers:
  - name: debug
    image: registry.example/tools@{digest}
    securityContext:
      privileged: true
  volumes:
  - name: root
    hostPath:
      path: /
"""


def _findings(root, *paths: str) -> list[dict]:
    run = run_cli("check", "--no-schema", "--no-conftest", "--format", "json", *paths,
                  cwd=root)
    assert run.returncode in (0, 1), run.stdout + run.stderr
    return run.findings


def _rules(findings: list[dict]) -> set[str]:
    return {f["rule"] for f in findings}


@pytest.mark.parametrize("kind", OPERATOR_KINDS)
def test_operator_kinds_with_privileged_host_pid_and_host_path_are_flagged(tree, kind: str
                                                                           ) -> None:
    root = tree({"monitoring/cr.yaml": textwrap.dedent(f"""\
        apiVersion: monitoring.coreos.com/v1{'alpha1' if kind == 'PrometheusAgent' else ''}
        kind: {kind}
        metadata:
          name: main
          namespace: monitoring
        spec:
        """) + HOSTILE_POD_FIELDS.format(digest=DIGEST)})
    findings = _findings(root, "monitoring")
    assert {"no-privileged", "no-host-namespaces", "no-host-path"} <= _rules(findings)
    cr = root / "monitoring/cr.yaml"
    by_rule = {(f["rule"], f["line"]) for f in findings}
    assert ("no-privileged", line_of(cr, "privileged: true")) in by_rule
    assert ("no-host-namespaces", line_of(cr, "hostPID")) in by_rule
    assert ("no-host-path", line_of(cr, "hostPath:")) in by_rule


def test_an_operator_kind_without_security_settings_is_left_to_the_operator(tree) -> None:
    """Its containers are patches merged into the ones the operator generates (which set
    their own security context): unset fields are not findings, nor are reliability rules."""
    root = tree({"monitoring/prometheus.yaml": """\
        apiVersion: monitoring.coreos.com/v1
        kind: Prometheus
        metadata:
          name: main
          namespace: monitoring
        spec:
          replicas: 2
          podMetadata:
            labels: {team: obs}
          containers:
          - name: config-reloader
            resources:
              limits: {memory: 64Mi}
        """})
    assert _findings(root, "monitoring") == []


def test_an_operator_kind_with_an_explicitly_weak_setting_is_flagged(tree) -> None:
    root = tree({"monitoring/prometheus.yaml": """\
        apiVersion: monitoring.coreos.com/v1
        kind: Prometheus
        metadata:
          name: main
          namespace: monitoring
        spec:
          securityContext:
            runAsUser: 0
          containers:
          - name: prometheus
            securityContext:
              allowPrivilegeEscalation: true
              capabilities: {add: [SYS_ADMIN]}
        """})
    assert {"run-as-non-root", "no-privilege-escalation",
            "no-added-capabilities"} <= _rules(_findings(root, "monitoring"))


def test_a_prometheus_kind_of_another_group_is_not_taken_for_the_operator_s(tree) -> None:
    root = tree({"other/cr.yaml": """\
        apiVersion: example.com/v1
        kind: Prometheus
        metadata: {name: x, namespace: apps}
        spec:
          hostNetwork: true
        """})
    assert _findings(root, "other") == []


def test_an_argo_rollout_is_checked_like_a_deployment(tree) -> None:
    root = tree({"apps/rollout.yaml": textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: Rollout
        metadata:
          name: web
          namespace: apps
        spec:
          replicas: 2
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
        """) + "\n".join("    " + line if line else line
                        for line in HOSTILE_POD_FIELDS.format(digest=DIGEST).splitlines())
                 + "\n"})
    findings = _findings(root, "apps")
    rules = _rules(findings)
    assert {"no-privileged", "no-host-namespaces", "no-host-path"} <= rules
    # the whole catalogue applies, as to a Deployment (not only Pod Security)
    assert "liveness-probe" in rules or "resource-limits" in rules
    assert all(f["kind"] == "Rollout" for f in findings)


def test_a_kind_named_in_the_repository_config_is_checked(tree) -> None:
    root = tree({
        ".kustodian.yaml": """\
            pod_kinds:
              - kind: WebApp
                group: apps.example.com
                spec: spec.podTemplate.spec
            """,
        "apps/webapp.yaml": textwrap.dedent("""\
            apiVersion: apps.example.com/v1
            kind: WebApp
            metadata:
              name: web
              namespace: apps
            spec:
              podTemplate:
                metadata:
                  annotations:
                    container.apparmor.security.beta.kubernetes.io/debug: unconfined
                spec:
            """) + "\n".join("      " + line if line else line
                            for line in HOSTILE_POD_FIELDS.format(digest=DIGEST).splitlines())
            + "\n"})
    findings = _findings(root, "apps")
    assert {"no-privileged", "no-host-namespaces", "no-host-path",
            "apparmor-profile"} <= _rules(findings)
    webapp = root / "apps/webapp.yaml"
    assert ("no-privileged", line_of(webapp, "privileged: true")) in {
        (f["rule"], f["line"]) for f in findings}


@pytest.mark.parametrize(("entry", "needle"), [
    ("- {kind: WebApp}", "spec must be a dotted field path"),
    ("- {kind: WebApp, spec: 'spec..x'}", "spec must be a dotted field path"),
    ("- {kind: WebApp, spec: spec, podSpec: x}", "unknown key"),
    ("{kind: WebApp}", "must be a list"),
    ("- {kind: WebApp, spec: spec, operator: maybe}", "operator must be true or false"),
])
def test_bad_pod_kinds_config_is_a_clear_error(tree, entry: str, needle: str) -> None:
    root = tree({".kustodian.yaml": f"pod_kinds:\n  {entry}\n",
                 "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"})
    run = run_cli("check", "--no-schema", "--no-conftest", "apps", cwd=root)
    assert run.returncode == 2
    assert needle in run.stderr + run.stdout and ".kustodian.yaml" in run.stderr + run.stdout


# --- the hostile change on a scratch clone, the gate run in full and in PR mode --------------

def _overlay_repo(tmp_path):
    from support.cli import init_repo, write_tree

    root = write_tree(tmp_path / "repo", {
        "overlays/dev/kustomization.yaml": "resources: [cm.yaml]\n",
        "overlays/dev/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                                "metadata: {name: settings, namespace: apps}\n",
    })
    return init_repo(root)


HOSTILE_CRS = {
    "prometheus": """\
        apiVersion: monitoring.coreos.com/v1
        kind: Prometheus
        metadata: {name: main, namespace: apps}
        spec:
          hostPID: true
          containers:
          - name: prometheus
            securityContext: {privileged: true}
          volumes:
          - name: root
            hostPath: {path: /}
        """,
    "rollout": f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Rollout
        metadata: {{name: web, namespace: apps}}
        spec:
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata: {{labels: {{app: web}}}}
            spec:
              hostPID: true
              containers:
              - name: web
                image: registry.example/web@{DIGEST}
                securityContext: {{privileged: true}}
              volumes:
              - name: root
                hostPath: {{path: /}}
        """,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CRS))
def test_a_pr_adding_a_privileged_custom_resource_fails_in_full_and_pr_mode(tmp_path, name
                                                                            ) -> None:
    from support.cli import commit_all, write_tree

    root = _overlay_repo(tmp_path)
    write_tree(root, {"overlays/dev/cr.yaml": HOSTILE_CRS[name],
                      "overlays/dev/kustomization.yaml": "resources: [cm.yaml, cr.yaml]\n"})
    commit_all(root, "hostile")
    for mode in ((), ("--base-ref", "HEAD~1", "--new-only")):
        run = run_cli("check", "--no-schema", "--no-conftest", "--format", "json", *mode,
                      cwd=root)
        assert run.returncode == 1, (mode, run.stdout[-800:], run.stderr[-800:])
        rules = {f["rule"] for f in run.findings}
        assert {"no-privileged", "no-host-namespaces", "no-host-path"} <= rules, (mode, rules)
