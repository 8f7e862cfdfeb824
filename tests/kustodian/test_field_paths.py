"""One field-path representation: tuples from the rule or schema issue to the source map,
formatted only in reports. Keys with dots (label keys) stay one key."""

from __future__ import annotations

import json

from kustodian.model import Finding, Severity, format_path
from support.cli import kustodian, line_of

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: apps
  labels:
    team: web
    app.kubernetes.io/name: 42
spec:
  containers:
  - name: web
    image: registry.example/web@sha256:{digest}
"""


def test_a_schema_issue_on_a_dotted_label_key_points_at_the_key_s_line(tmp_path) -> None:
    (tmp_path / ".git").mkdir()
    pod = tmp_path / "pod.yaml"
    pod.write_text(POD.format(digest="a" * 64), encoding="utf-8")
    run = kustodian("check", "--no-conftest", "--format", "json", "pod.yaml", cwd=tmp_path)
    schema = [f for f in run.findings if f["rule"] == "schema-invalid"]
    assert schema, run.stdout
    (f,) = schema
    assert f["line"] == line_of(pod, "app.kubernetes.io/name"), f   # not `labels:`
    assert f["field_path"] == 'metadata.labels["app.kubernetes.io/name"]'


def test_format_path_quotes_keys_that_are_not_plain_names() -> None:
    assert format_path(("spec", "containers", 0, "image")) == "spec.containers[0].image"
    assert format_path(("metadata", "annotations", "kustodian.io/exempt")) == (
        'metadata.annotations["kustodian.io/exempt"]')
    assert format_path(("data", "a b", "x-y")) == 'data["a b"].x-y'
    assert format_path(()) == "" and format_path(None) == ""


def test_findings_keep_the_tuple_and_reports_format_it() -> None:
    f = Finding("r", Severity.LOW, "hygiene", "m",
                field_path=("metadata", "labels", "app.kubernetes.io/name"))
    assert f.field_path == ("metadata", "labels", "app.kubernetes.io/name")
    assert f.to_json()["field_path"] == 'metadata.labels["app.kubernetes.io/name"]'
    assert f.fingerprint()[-1] == f.field_path


def test_sarif_fingerprints_carry_the_formatted_field() -> None:
    from kustodian.model import Report
    from kustodian.report.sarif import to_sarif

    f = Finding("no-privileged", Severity.HIGH, "pod-security", "m", env="dev", file="a.yaml",
                line=3, field_path=("spec", "containers", 0, "securityContext", "privileged"))
    data = json.loads(to_sarif(Report(findings=[f])))
    fingerprint = data["runs"][0]["results"][0]["partialFingerprints"]["kustodian/v1"]
    assert fingerprint.endswith("|spec.containers[0].securityContext.privileged")
