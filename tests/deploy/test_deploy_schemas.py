"""kustodian.schemas: strict validation rejects bad resources with useful paths, accepts
good ones, and never crashes on garbage."""

from __future__ import annotations

import copy
import json

import pytest
from kustodian.errors import KustodianError
from kustodian.schemas import SchemaIssue, SchemaValidator, format_path

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                   "ports": [{"containerPort": 80}]}]}}},
}
ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
    "metadata": {"name": "web", "namespace": "apps"},
    "spec": {"parentRefs": [{"name": "gw"}],
             "rules": [{"backendRefs": [{"name": "web", "port": 80, "weight": 1}]}]},
}


def paths(issues: list[SchemaIssue]) -> list[str]:
    return [i.path for i in issues]


def test_valid_resources_have_no_issues(validator):
    assert validator.validate(DEPLOYMENT) == []
    assert validator.validate(ROUTE) == []
    assert validator.schema_version == validator.kubernetes_version == "1.34"


def test_unknown_field_is_an_error_with_its_path(validator):
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    (issue,) = validator.validate(bad)
    assert issue.path == "spec.template.spec.containers[0].imagePullPolicyy"
    assert "unknown field 'imagePullPolicyy'" in issue.message


def test_wrong_type_names_the_field(validator):
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["replicas"] = "three"
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "80"
    issues = validator.validate(bad)
    assert paths(issues) == ["spec.replicas",
                             "spec.template.spec.containers[0].ports[0].containerPort"]
    assert "is not of type 'integer'" in issues[0].message


def test_a_label_key_with_dots_is_one_path_part(validator):
    bad = copy.deepcopy(DEPLOYMENT)
    bad["metadata"]["labels"] = {"app.kubernetes.io/name": 5}
    (issue,) = validator.validate(bad)
    assert issue.parts == ("metadata", "labels", "app.kubernetes.io/name")
    assert "is not of type 'string'" in issue.message
    bad["metadata"]["labels"] = {"app.kubernetes.io/name": "web", "a.b/c": {"x": 1}}
    bad["spec"]["template"]["spec"]["containers"][0]["image.tag"] = "1"
    assert [i.parts for i in validator.validate(bad)] == [
        ("metadata", "labels", "a.b/c"),
        ("spec", "template", "spec", "containers", 0, "image.tag")]


def test_missing_required_field(validator):
    bad = copy.deepcopy(DEPLOYMENT)
    del bad["spec"]["template"]["spec"]["containers"][0]["name"]
    (issue,) = validator.validate(bad)
    assert issue.path == "spec.template.spec.containers[0]"
    assert "'name' is a required property" in issue.message


def test_unknown_kind_and_removed_api_version_are_issues(validator):
    (issue,) = validator.validate({"apiVersion": "example.com/v1", "kind": "Widget"})
    assert issue.path == "kind" and "no schema for apiVersion 'example.com/v1'" in issue.message
    (issue,) = validator.validate({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
                                   "metadata": {"name": "x"}})
    assert "no schema" in issue.message
    # (v1alpha1 is gone from the pinned External Secrets CRDs; they serve v1 and v1beta1)
    (issue,) = validator.validate({"apiVersion": "external-secrets.io/v1alpha1",
                                   "kind": "ExternalSecret"})
    assert ("known apiVersions for ExternalSecret: external-secrets.io/v1, "
            "external-secrets.io/v1beta1") in issue.message
    # A sub-type schema file is not a kind.
    assert validator.validate({"apiVersion": "v1", "kind": "ServiceSpec"})[0].path == "kind"


@pytest.mark.parametrize("garbage", [None, 42, "text", ["a"], {}, {"kind": 5, "apiVersion": []},
                                     {"apiVersion": "../../etc", "kind": "../passwd"}])
def test_garbage_never_crashes(validator, garbage):
    issues = validator.validate(garbage)
    assert issues and all(isinstance(i, SchemaIssue) and i.message for i in issues)


def test_custom_resource_unknown_field_and_type(validator):
    bad = copy.deepcopy(ROUTE)
    bad["spec"]["rules"][0]["backendRefs"][0]["port"] = "http"
    bad["spec"]["rules"][0]["backendRefs"][0]["wieght"] = 5
    bad["metadata"]["labelz"] = {}
    issues = validator.validate(bad)
    assert sorted(paths(issues)) == ["metadata.labelz", "spec.rules[0].backendRefs[0].port",
                                     "spec.rules[0].backendRefs[0].wieght"]


def test_preserve_unknown_fields_are_accepted(validator):
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "a", "namespace": "argocd"},
           "spec": {"project": "p", "destination": {"namespace": "x"},
                    "source": {"repoURL": "https://example.com/r.git", "path": ".",
                               "helm": {"valuesObject": {"anything": {"goes": [1, 2]}}}}}}
    assert validator.validate(app) == []
    app["spec"]["source"]["helm"]["valuesObjekt"] = {}
    assert paths(validator.validate(app)) == ["spec.source.helm.valuesObjekt"]


def test_list_items_are_validated_one_by_one(validator):
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["paused"] = "yes"
    issues = validator.validate({"apiVersion": "v1", "kind": "List",
                                 "items": [DEPLOYMENT, bad, {"apiVersion": "v1"}]})
    assert paths(issues) == ["items[1].spec.paused", "items[2].kind"]


def test_validators_are_cached_per_kind(validator):
    validator.validate(DEPLOYMENT)
    first = validator._validator_for("apps/v1", "Deployment")
    validator.validate(copy.deepcopy(DEPLOYMENT))
    assert validator._validator_for("apps/v1", "Deployment") is first


def test_schemas_are_compiled_once_per_process(validator):
    """A second validator (PR mode's head after its base) reuses the compiled schemas."""
    validator.validate(DEPLOYMENT)
    again = SchemaValidator()
    assert again._validator_for("apps/v1", "Deployment") is validator._validator_for(
        "apps/v1", "Deployment")
    assert again._registry is validator._registry


def test_a_changed_crd_schema_is_read_again(tmp_path):
    """The per-process compilation is keyed by each file's content: a CRD schema edited or
    replaced between two validators is compiled anew, never answered from the old one."""
    from kustodian.schemas import DEFAULT_CRD_DIR

    index = json.loads((DEFAULT_CRD_DIR / "index.json").read_text())
    rel = index["gateway.networking.k8s.io/v1/HTTPRoute"]
    (tmp_path / rel).parent.mkdir(parents=True)
    schema = json.loads((DEFAULT_CRD_DIR / rel).read_text())
    (tmp_path / rel).write_text(json.dumps(schema))
    (tmp_path / "index.json").write_text(json.dumps(
        {"gateway.networking.k8s.io/v1/HTTPRoute": rel}))
    assert SchemaValidator(crd_dir=tmp_path).validate(ROUTE) == []
    schema["properties"]["spec"]["required"] = ["hostnames"]
    (tmp_path / rel).write_text(json.dumps(schema))                 # edited in place
    assert paths(SchemaValidator(crd_dir=tmp_path).validate(ROUTE)) == ["spec"]
    (tmp_path / "index.json").write_text("{}")                      # the kind is gone
    assert paths(SchemaValidator(crd_dir=tmp_path).validate(ROUTE)) == ["kind"]


def test_format_path():
    assert format_path(["spec", "containers", 0, "image"]) == "spec.containers[0].image"
    assert format_path([]) == ""


def test_unsupported_kubernetes_version_is_a_clear_error():
    with pytest.raises(KustodianError) as err:
        SchemaValidator(kubernetes_version="1.99")
    assert "not supported" in str(err.value) and "KUBERNETES_VERSION" in str(err.value)
    with pytest.raises(KustodianError):
        SchemaValidator(kubernetes_version="latest")


def test_older_kubernetes_version_rejects_newer_fields():
    old = SchemaValidator(kubernetes_version="1.30")
    assert old.schema_version == "1.30"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i:1"}],
                    "resources": {"limits": {"cpu": "1"}}}}        # pod-level resources: 1.32+
    assert paths(old.validate(pod)) == ["spec.resources"]
    assert SchemaValidator().validate(pod) == []


def test_missing_or_corrupt_crd_cache_is_a_clear_error(tmp_path):
    with pytest.raises(KustodianError) as err:
        SchemaValidator(crd_dir=tmp_path / "nowhere")
    assert "make setup" in str(err.value)
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(KustodianError) as err:
        SchemaValidator(crd_dir=tmp_path)
    assert "index.json" in str(err.value)


def test_without_crds_builtins_still_validate():
    validator = SchemaValidator(crd_dir=None)
    assert validator.validate(DEPLOYMENT) == []
    assert paths(validator.validate(ROUTE)) == ["kind"]


def test_issue_is_printable():
    assert str(SchemaIssue(("spec", "replicas"), "bad")) == "spec.replicas: bad"
    assert str(SchemaIssue("", "bad")) == "<resource>: bad"
    assert json.dumps(SchemaIssue("a", "b").__dict__)


def test_absurdly_deep_documents_are_an_issue_not_a_crash(validator):
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    resource = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": deep}
    issues = validator.validate(resource)
    assert issues and all(isinstance(i, SchemaIssue) for i in issues)


def test_ruamel_round_trip_documents_validate_like_plain_ones(validator, tmp_path):
    from ruamel.yaml import YAML

    text = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  progressDeadlineSeconds: 600
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27", ports: [{containerPort: 0x50}]}]
"""
    doc = YAML().load(text)                      # CommentedMap, ScalarInt, ...
    assert validator.validate(doc) == []
    doc["spec"]["replicas"] = "3"
    assert [i.path for i in validator.validate(doc)] == ["spec.replicas"]
