"""Bad input: a clear message naming the file (and line) and exit 2, never a traceback."""

from __future__ import annotations

import pytest
from support.cli import kustodian, write_tree


def check(root, *args):
    out = kustodian("check", "--no-conftest", *args, cwd=root)
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    return out


@pytest.fixture
def root(tmp_path):
    (tmp_path / ".git").mkdir()
    return tmp_path


@pytest.mark.parametrize(("text", "needle"), [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: {a: b}\n", "app.yaml:"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n", "app.yaml:"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n",
     "duplicate key 'name'"),
    ("- just\n- a list\n", "not a Kubernetes resource"),
    ("plain scalar\n", "not a Kubernetes resource"),
    ("apiVersion: v1\nkind: List\nitems: {a: 1}\n", "items must be a list"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e]\n"
     "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n", "alias"),
])
def test_bad_yaml(root, text, needle):
    (root / "app.yaml").write_text(text)
    out = check(root, "app.yaml")
    assert out.returncode == 2
    assert needle in out.stderr
    assert "app.yaml" in out.stderr


def test_yaml_error_names_the_line(root):
    (root / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
                                   "  name: y\n")
    out = check(root, "app.yaml")
    assert "app.yaml:5:" in out.stderr


def test_not_utf8(root):
    (root / "app.yaml").write_bytes(b"kind: ConfigMap\nname: \xff\xfe\n")
    out = check(root, "app.yaml")
    assert out.returncode == 2 and "UTF-8" in out.stderr


def test_oversized_file(root):
    with (root / "big.yaml").open("w") as handle:
        handle.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n")
        line = "  k{}: " + "x" * 1000 + "\n"
        for i in range(17_000):
            handle.write(line.format(i))
    out = check(root, "big.yaml")
    assert out.returncode == 2 and "limit" in out.stderr


def test_missing_path(root):
    out = check(root, "nope/")
    assert out.returncode == 2 and "nope" in out.stderr and "no such file" in out.stderr


def test_unknown_format_is_a_usage_error(root):
    out = check(root, "--format", "xml", ".")
    assert out.returncode == 2 and "xml" in out.stderr


def test_kustomize_failure_shows_kustomize_message(root):
    write_tree(root, {"overlays/dev/kustomization.yaml": "resources:\n  - missing.yaml\n"})
    out = check(root, "overlays/dev")
    assert out.returncode == 2
    assert "overlays/dev" in out.stderr and "kustomize build failed" in out.stderr
    assert "missing.yaml" in out.stderr


def test_kustomization_cycle(root):
    write_tree(root, {"overlays/a/kustomization.yaml": "resources:\n  - ../b\n",
                      "overlays/b/kustomization.yaml": "resources:\n  - ../a\n"})
    out = check(root, "overlays/a")
    assert out.returncode == 2 and "overlays/a" in out.stderr and "cycle" in out.stderr.lower()


def test_component_path_is_rendered_like_kustomize_build(root):
    """`kustomize build` renders a Component dir, so the gate checks it (no longer refused);
    one kustomize cannot build is its clear build error."""
    write_tree(root, {"components/c/kustomization.yaml":
                      "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                      "resources: [pod.yaml]\n",
                      "components/c/pod.yaml":
                      "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n"
                      "  containers:\n    - name: c\n      image: busybox\n"
                      "      securityContext: {privileged: true}\n",
                      "components/empty/kustomization.yaml": "kind: Component\n"})
    out = check(root, "components/c")
    assert out.returncode == 1 and "no-privileged" in out.stdout, out.stderr
    out = check(root, "components/empty")
    assert out.returncode == 2 and "kustomization.yaml is empty" in out.stderr


def test_bad_config(root):
    (root / ".kustodian.yaml").write_text("profiles:\n  prod:\n    severity: {x: huge}\n")
    (root / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    out = check(root, "app.yaml")
    assert out.returncode == 2 and ".kustodian.yaml" in out.stderr and "huge" in out.stderr


def test_wrong_types_inside_a_resource_do_not_crash(root):
    (root / "app.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x, namespace: a}\n"
        "spec:\n  replicas: many\n  selector: {matchLabels: {a: b}}\n  template:\n"
        "    metadata: {labels: {a: b}}\n    spec:\n      securityContext: [1]\n"
        "      containers: oops\n      volumes: [3]\n")
    out = check(root, "--format", "json", "--env", "prod", "app.yaml")
    assert out.returncode == 1, out.stderr
    assert "schema-invalid" in {f["rule"] for f in out.json()["findings"]}


def test_other_overlays_still_reported_when_one_fails(root):
    write_tree(root, {
        "overlays/dev/kustomization.yaml": "resources:\n  - missing.yaml\n",
        "overlays/prod/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "overlays/prod/cm.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                                 "stringData: {password: x}\n",
    })
    out = check(root, "--format", "json")
    assert out.returncode == 2
    assert [f["rule"] for f in out.json()["findings"]] == ["no-plaintext-secrets"]


def test_kustomize_yaml_error_is_located_in_the_right_file(root):
    write_tree(root, {
        "overlays/dev/kustomization.yaml": "resources:\n  - ../../base\n",
        "base/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
    })
    out = check(root, "overlays/dev")
    assert out.returncode == 2
    assert "base/cm.yaml:5: invalid YAML: found duplicate key 'name'" in out.stderr
    assert "kustomize build failed" in out.stderr


def test_missing_resource_names_the_kustomization_line(root):
    write_tree(root, {"overlays/dev/kustomization.yaml":
                      "namespace: x\nresources:\n  - deployment.yaml\n  - nope.yaml\n",
                      "overlays/dev/deployment.yaml":
                      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
    out = check(root, "overlays/dev")
    assert out.returncode == 2
    assert "overlays/dev/kustomization.yaml:4: 'nope.yaml' does not exist" in out.stderr
