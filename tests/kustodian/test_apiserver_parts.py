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
