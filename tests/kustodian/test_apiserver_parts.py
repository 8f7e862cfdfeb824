"""Parts of `check --apiserver` that need no cluster: configuration, warning headers, where a
warning or rejection is placed. (The check itself runs against a real kube-apiserver in
tests/e2e/apiserver.)"""

from __future__ import annotations

import pytest
from kustodian.apiserver import _warning_place
from kustodian.cluster.kube import _warning_text
from kustodian.config import load_config
from kustodian.errors import KustodianError
from kustodian.resources import Resource


def test_platform_namespaces_come_from_the_config(tmp_path):
    (tmp_path / ".kustodian.yaml").write_text("apiserver:\n  namespaces: [argocd, infra]\n")
    assert load_config(tmp_path).apiserver_namespaces == {"argocd", "infra"}


@pytest.mark.parametrize("bad", ["apiserver: [argocd]\n", "apiserver:\n  namespaces: argocd\n",
                                 "apiserver:\n  namespaces: [1]\n"])
def test_bad_platform_namespaces_are_a_clear_error(tmp_path, bad):
    (tmp_path / ".kustodian.yaml").write_text(bad)
    with pytest.raises(KustodianError, match=r"apiserver\.namespaces must be a list"):
        load_config(tmp_path)


def test_warning_header_text():
    assert _warning_text('299 - "would violate \\"restricted\\""') == 'would violate "restricted"'
    assert _warning_text("not a warn-text") == "not a warn-text"


def deployment() -> Resource:
    return Resource({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
                     "spec": {"template": {"spec": {"containers": [{"name": "app"},
                                                                   {"name": "side"}]}}}})


def test_a_warning_is_placed_at_the_field_or_the_container_it_names():
    r = deployment()
    assert _warning_place(r, "spec.template.spec.containers[1].env[2]: hides previous "
                             "definition") == (
        ("spec", "template", "spec", "containers", 1, "env", 2), None)
    assert _warning_place(r, 'would violate PodSecurity "restricted:latest": privileged '
                             '(container "side" must not set privileged=true)') == (
        ("spec", "template", "spec", "containers", 1), "side")
    assert _warning_place(r, "something else") == (("spec", "template", "spec"), None)


def target_over(text: str):
    """A _Target whose source is one YAML document; a missing field is located at its
    nearest written ancestor, like the pipeline's source map."""
    import yaml
    from kustodian.apiserver import _Target
    from kustodian.sourcemap import find_line

    node = yaml.compose(text)

    def locate(r, path):
        for k in range(len(path), -1, -1):
            line = find_line(node, path[:k], r.obj)
            if line is not None:
                return "svc.yaml", line
        return "svc.yaml", None

    return _Target("t", None, [], locate, lambda f: f, lambda *_: False, lambda rule: None)


SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: redis
spec:
  type: ClusterIP
{extra}  ports:
    - port: 6379
"""


@pytest.mark.parametrize(("extra", "named", "expected"), [
    # the server names clusterIPs[0]; the manifest writes clusterIP: that line
    ("  clusterIP: None\n", ("spec", "clusterIPs", 0), ("spec", "clusterIP")),
    # the manifest writes clusterIPs itself: that line, not `spec:`
    ('  clusterIPs: ["None"]\n', ("spec", "clusterIPs"), ("spec", "clusterIPs")),
    ('  clusterIPs: ["None"]\n', ("spec", "clusterIPs", 0), ("spec", "clusterIPs", 0)),
    # neither is written: the alias (located at `spec:` by the source map)
    ("", ("spec", "clusterIPs", 0), ("spec", "clusterIP")),
])
def test_a_rejection_is_placed_at_the_field_the_source_writes(extra, named, expected):
    from kustodian.apiserver import _source_path

    text = SERVICE.format(extra=extra)
    r = Resource(__import__("yaml").safe_load(text))
    assert _source_path(target_over(text), r, named, None, "may not change once set") == \
        expected


def test_a_refused_update_is_placed_at_the_field_the_change_touched():
    """The API server names `spec` for a StatefulSet update: the line to change is the field
    that differs from the base, not one of those the message says may change."""
    import yaml
    from kustodian.apiserver import _source_path

    text = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: redis
spec:
  replicas: 3
  serviceName: redis
  template:
    metadata: {labels: {a: b}}
"""
    head = yaml.safe_load(text)
    base = yaml.safe_load(text.replace("replicas: 3", "replicas: 1")
                          .replace("serviceName: redis", "serviceName: redis-headless")
                          .replace("{a: b}", "{a: c}"))
    message = ("Forbidden: updates to statefulset spec for fields other than 'replicas', "
               "'ordinals', 'template', 'updateStrategy' and 'minReadySeconds' are forbidden")
    target = target_over(text)
    assert _source_path(target, Resource(head), ("spec",), base, message) == (
        "spec", "serviceName")
    assert target.locate(Resource(head), ("spec", "serviceName")) == ("svc.yaml", 7)
    # without a base (not an update): the named field
    assert _source_path(target, Resource(head), ("spec",), None, message) == ("spec",)
