"""Exemption annotations: valid (resource-wide and per container), expired, malformed; every
exemption in use is listed in the report, at the source line of the annotation."""

from __future__ import annotations

import datetime as dt

import yaml
from manifests import fresh, pod_spec
from support.cli import kustodian, line_of

# exemptions must expire within the horizon (90 days by default): see tests/security/
SOON = (dt.date.today() + dt.timedelta(days=30)).isoformat()


def write(tmp_path, docs):
    (tmp_path / ".git").mkdir(exist_ok=True)
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def check(tmp_path, docs, env="dev"):
    path = write(tmp_path, docs)
    out = kustodian("check", "--no-conftest", "--no-schema", "--format", "json", "--env", env,
                  str(path), cwd=tmp_path)
    assert out.returncode in (0, 1), out.stderr
    return out.json(), path


def with_two_containers(docs):
    spec = pod_spec(docs)
    second = dict(spec["containers"][0], name="sidecar",
                  securityContext=dict(spec["containers"][0]["securityContext"]))
    spec["containers"].append(second)
    for c in spec["containers"]:
        c["securityContext"]["readOnlyRootFilesystem"] = False
    return docs


def test_resource_exemption_suppresses_and_is_listed(tmp_path):
    docs = with_two_containers(fresh())
    docs[0]["metadata"]["annotations"] = {
        "kustodian.io/exempt": "read-only-root-filesystem: writes its cache to /; "
                               f"expires={SOON}"}
    data, path = check(tmp_path, docs)
    assert data["findings"] == []
    [use] = data["exemptions"]
    assert (use["rule"], use["suppressed"], use["status"], use["expires"]) == (
        "read-only-root-filesystem", 2, "active", SOON)
    assert use["reason"] == "writes its cache to /"
    assert (use["file"], use["line"]) == ("app.yaml", line_of(path, "kustodian.io/exempt"))
    assert data["summary"]["suppressed"] == 2


def test_container_exemption_covers_only_that_container(tmp_path):
    docs = with_two_containers(fresh())
    docs[0]["spec"]["template"]["metadata"]["annotations"] = {
        "kustodian.io/exempt.sidecar": f"read-only-root-filesystem: vendor image needs it; "
                                       f"expires={SOON}"}
    data, _ = check(tmp_path, docs)
    assert [(f["rule"], f["container"]) for f in data["findings"]] == [
        ("read-only-root-filesystem", "web")]
    [use] = data["exemptions"]
    assert (use["container"], use["suppressed"], use["expires"]) == ("sidecar", 1, SOON)


def test_several_exemptions_one_per_line(tmp_path):
    docs = fresh()
    pod_spec(docs)["containers"][0].pop("livenessProbe")
    pod_spec(docs)["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    docs[0]["metadata"]["annotations"] = {"kustodian.io/exempt": (
        f"liveness-probe: the process exits on hang, restartPolicy handles it; expires={SOON}\n"
        "read-only-root-filesystem: legacy, tracked in OPS-12, fixed, soon; "
        f"expires={SOON}\n")}
    data, _ = check(tmp_path, docs)
    assert data["findings"] == []
    assert sorted(u["rule"] for u in data["exemptions"]) == ["liveness-probe",
                                                             "read-only-root-filesystem"]
    assert all(u["suppressed"] == 1 for u in data["exemptions"])


def test_expired_exemption_is_a_finding_and_suppresses_nothing(tmp_path):
    docs = fresh()
    pod_spec(docs)["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    docs[0]["metadata"]["annotations"] = {
        "kustodian.io/exempt": "read-only-root-filesystem: temporary; expires=2020-01-31"}
    data, path = check(tmp_path, docs)
    rules = sorted(f["rule"] for f in data["findings"])
    assert rules == ["exemption-expired", "read-only-root-filesystem"]
    expired = next(f for f in data["findings"] if f["rule"] == "exemption-expired")
    assert "2020-01-31" in expired["message"]
    assert expired["line"] == line_of(path, "kustodian.io/exempt")
    [use] = data["exemptions"]
    assert (use["status"], use["suppressed"]) == ("expired", 0)


def test_malformed_exemptions(tmp_path):
    docs = fresh()
    docs[0]["metadata"]["annotations"] = {"kustodian.io/exempt": (
        "no-such-rule: because\n"
        "liveness-probe:\n"
        "read-only-root-filesystem: reason; expires=31-12-2099\n"
        "just words\n")}
    data, _ = check(tmp_path, docs)
    malformed = [f["message"] for f in data["findings"] if f["rule"] == "exemption-malformed"]
    assert len(malformed) == 4
    assert any("unknown rule id 'no-such-rule'" in m for m in malformed)
    assert any("no reason" in m for m in malformed)
    assert any("invalid date" in m for m in malformed)
    assert data["exemptions"] == []


def test_unused_exemption_is_listed_as_unused(tmp_path):
    docs = fresh()
    docs[0]["metadata"]["annotations"] = {"kustodian.io/exempt": f"no-privileged: never needed; "
                                                         f"expires={SOON}"}
    data, _ = check(tmp_path, docs)
    assert data["findings"] == []
    assert [(u["rule"], u["status"]) for u in data["exemptions"]] == [("no-privileged",
                                                                       "unused")]


def test_profile_severity_and_disable(tmp_path):
    docs = fresh()
    pod_spec(docs)["containers"][0].pop("livenessProbe")
    pod_spec(docs)["containers"][0].pop("readinessProbe")
    (tmp_path / ".kustodian.yaml").write_text(
        "profiles:\n  default:\n    severity: {liveness-probe: info}\n"
        "  dev:\n    disable: [readiness-probe]\n")
    data, _ = check(tmp_path, docs)
    assert [(f["rule"], f["severity"]) for f in data["findings"]] == [("liveness-probe",
                                                                       "info")]
    out = kustodian("check", "--no-conftest", "--no-schema", "--env", "dev", "app.yaml",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stdout   # info is below the default --fail-on low
    out = kustodian("check", "--no-conftest", "--no-schema", "--env", "dev", "--fail-on", "info",
                  "app.yaml", cwd=tmp_path)
    assert out.returncode == 1


def test_profile_enables_a_prod_rule_in_dev(tmp_path):
    docs = fresh()
    docs[0]["spec"]["replicas"] = 1
    (tmp_path / ".kustodian.yaml").write_text("profiles:\n  dev:\n    enable: [min-replicas]\n")
    data, _ = check(tmp_path, docs)
    assert [f["rule"] for f in data["findings"]] == ["min-replicas"]
