"""The shipped Rego and kustodian.conftest_runner, on the real conftest CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from kustodian.conftest_runner import (
    ConftestInput,
    capabilities_file,
    dockerfile_instructions,
    policy_namespaces,
    run_conftest,
)
from kustodian.errors import KustodianError
from kustodian.model import Severity

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures_conftest"
FIXTURE_REPO_PATH = "tests/kustodian/fixtures_conftest"


@pytest.fixture(scope="module")
def policies(repo_root: Path) -> Path:
    return repo_root / "policies"


def run(inputs, policies, conftest_bin):
    return run_conftest(inputs, policy_dir=policies, conftest_bin=conftest_bin)


def test_rego_unit_tests_pass_with_conftest_verify(repo_root, conftest_bin):
    proc = subprocess.run(
        [conftest_bin, "verify", "--no-color", "--policy", "policies", "--data", "policies",
         "--show-builtin-errors", "--capabilities", capabilities_file(conftest_bin)],
        cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = re.search(r"(\d+) tests, (\d+) passed, \d+ warnings, (\d+) failures", proc.stdout)
    assert summary, proc.stdout
    total, passed, failures = map(int, summary.groups())
    assert failures == 0 and passed == total and total >= 40


def test_every_shipped_rule_has_a_rego_unit_test(policies):
    """Each rule id the policies can emit is named in some *_test.rego."""
    rule_ids = set()
    tests = ""
    for rego in policies.rglob("*.rego"):
        text = rego.read_text()
        if rego.name.endswith("_test.rego"):
            tests += text
        else:
            rule_ids |= set(re.findall(r'"((?:dockerfile|argocd|allowed)-[a-z-]+)"', text))
    assert rule_ids >= {"dockerfile-pinned-base-image", "dockerfile-no-add-url",
                        "dockerfile-non-root-user", "dockerfile-healthcheck",
                        "argocd-prod-no-auto-sync", "argocd-project-no-wildcard-sources",
                        "argocd-project-no-wildcard-destinations", "allowed-registries"}
    missing = {rule for rule in rule_ids if rule not in tests}
    assert not missing


def test_namespaces_split_dockerfile_and_kubernetes_packages(policies):
    namespaces = policy_namespaces(policies)
    assert namespaces["dockerfile"] == ["dockerfile"]
    assert {"argocd", "k8s.registries"} <= set(namespaces["k8s"])
    assert not any(ns.startswith("lib") or ns.endswith("_test") for ns in namespaces["k8s"])


def test_good_inputs_have_no_findings(policies, conftest_bin):
    findings = run([ConftestInput(FIXTURES / "Dockerfile.good", "dockerfile"),
                    ConftestInput(FIXTURES / "k8s-good.yaml", "k8s", env="prod",
                                  overlay="overlays/prod")], policies, conftest_bin)
    assert findings == []


def test_bad_dockerfile_findings_point_at_the_instruction_lines(policies, conftest_bin):
    findings = run([ConftestInput(FIXTURES / "Dockerfile.bad", "dockerfile")],
                   policies, conftest_bin)
    got = {(f.rule, f.line) for f in findings}
    assert got == {
        ("dockerfile-pinned-base-image", 2),     # FROM python:3.11-slim AS build
        ("dockerfile-no-add-url", 11),           # ADD https://...
        ("dockerfile-non-root-user", 14),        # USER root, after a comment line
        ("dockerfile-healthcheck", 10),          # final FROM: no HEALTHCHECK in that stage
    }
    for finding in findings:
        assert finding.file == f"{FIXTURE_REPO_PATH}/Dockerfile.bad"
        assert finding.source == "conftest"
        assert finding.remediation
        assert finding.kind is None
    by_rule = {f.rule: f for f in findings}
    assert by_rule["dockerfile-non-root-user"].category == "pod-security"
    assert by_rule["dockerfile-no-add-url"].severity == Severity.HIGH
    assert by_rule["dockerfile-healthcheck"].severity == Severity.MEDIUM


@pytest.mark.parametrize("name", ["Dockerfile.good", "Dockerfile.bad", "Dockerfile.comments",
                                  "Dockerfile.continuations", "Dockerfile.heredocs"])
def test_instruction_lines_follow_conftests_own_parser(name, conftest_bin):
    """Same instructions, same order as conftest's (BuildKit) parser, at lines that hold them."""
    path = FIXTURES / name
    parsed = json.loads(subprocess.run(
        [conftest_bin, "parse", "--parser", "dockerfile", str(path)],
        capture_output=True, text=True, check=True).stdout)
    instructions = parsed[0] if parsed and isinstance(parsed[0], list) else parsed
    ours = dockerfile_instructions(path.read_text())
    assert [cmd for _, cmd in ours] == [i["Cmd"] for i in instructions]
    lines = path.read_text().splitlines()
    for line, cmd in ours:
        expected = "#" if cmd == "comment" else cmd
        assert lines[line - 1].strip().lower().startswith(expected)


def test_kubernetes_findings_carry_resource_identity_and_env(policies, conftest_bin):
    findings = run([ConftestInput(FIXTURES / "k8s-bad.yaml", "k8s", env="prod",
                                  overlay="overlays/prod")], policies, conftest_bin)
    got = {(f.rule, f.kind, f.name, f.namespace, f.container) for f in findings}
    assert got == {
        ("allowed-registries", "Deployment", "agent", "agent-dev", "wait"),
        ("allowed-registries", "CronJob", "cleanup", "agent-dev", "cleanup"),
        ("argocd-prod-no-auto-sync", "Application", "agent-live", "argocd", None),
        ("argocd-project-no-wildcard-sources", "AppProject", "open", "argocd", None),
        ("argocd-project-no-wildcard-destinations", "AppProject", "open", "argocd", None),
    }
    for finding in findings:
        assert finding.env == "prod" and finding.overlay == "overlays/prod"
        assert finding.file is None and finding.line is None
        assert finding.source == "conftest"


def test_env_is_per_input_file_in_one_run(policies, conftest_bin, tmp_path):
    """The Application is prod only when its file is checked for prod (via --data)."""
    dev = tmp_path / "dev.yaml"
    prod = tmp_path / "prod.yaml"
    for path in (dev, prod):
        path.write_text((FIXTURES / "k8s-bad.yaml").read_text())
    findings = run([ConftestInput(dev, "k8s", env="dev"), ConftestInput(prod, "k8s", env="prod")],
                   policies, conftest_bin)
    auto_sync = {f.env for f in findings if f.rule == "argocd-prod-no-auto-sync"}
    assert auto_sync == {"prod"}
    assert {f.env for f in findings if f.rule == "allowed-registries"} == {"dev", "prod"}


def test_same_file_for_two_envs_is_evaluated_for_each(policies, conftest_bin):
    path = FIXTURES / "k8s-bad.yaml"
    findings = run([ConftestInput(path, "k8s", env="dev"), ConftestInput(path, "k8s", env="prod"),
                    ConftestInput(path, "k8s", env="prod")], policies, conftest_bin)
    auto_sync = [f.env for f in findings if f.rule == "argocd-prod-no-auto-sync"]
    assert auto_sync == ["prod"]
    assert len([f for f in findings if f.rule == "allowed-registries"]) == 4


def test_plain_string_rules_get_derived_ids_and_default_severities(tmp_path, conftest_bin):
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "extra.rego").write_text(
        'package main\n\nimport rego.v1\n\n'
        'deny_no_services contains msg if {\n  input.kind == "Service"\n'
        '  msg := "services are not allowed"\n}\n\n'
        'warn contains "every object is noted" if true\n\n'
        'violation contains {"msg": "odd", "severity": "warning", "category": "x"} if true\n')
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n")
    findings = run_conftest([ConftestInput(manifest, "k8s")], policy_dir=policy,
                            conftest_bin=conftest_bin)
    got = {(f.rule, f.severity, f.category, f.message) for f in findings}
    assert got == {("no-services", Severity.HIGH, "policy", "services are not allowed"),
                   ("main", Severity.LOW, "policy", "every object is noted"),
                   ("main", Severity.MEDIUM, "policy", "odd")}


def test_broken_rego_is_a_clear_error(tmp_path, conftest_bin):
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "broken.rego").write_text("package main\n\ndeny contains msg if {\n  input.kind ==\n")
    manifest = tmp_path / "m.yaml"
    manifest.write_text("kind: Service\n")
    with pytest.raises(KustodianError) as err:
        run_conftest([ConftestInput(manifest, "k8s")], policy_dir=policy,
                     conftest_bin=conftest_bin)
    assert "conftest failed" in str(err.value)
    assert "broken.rego" in str(err.value)


def test_unparsable_manifest_is_a_clear_error(tmp_path, policies, conftest_bin):
    manifest = tmp_path / "bad.yaml"
    manifest.write_text("kind: Service\nmetadata: {name: [unclosed\n")
    with pytest.raises(KustodianError) as err:
        run([ConftestInput(manifest, "k8s")], policies, conftest_bin)
    assert "bad.yaml" in str(err.value)


def test_bad_arguments_are_clear_errors(tmp_path, policies, conftest_bin):
    with pytest.raises(KustodianError, match="not found"):
        run([ConftestInput(tmp_path / "missing.yaml", "k8s")], policies, conftest_bin)
    (tmp_path / "x.yaml").write_text("kind: Service\n")
    with pytest.raises(KustodianError, match="unknown conftest input kind"):
        run([ConftestInput(tmp_path / "x.yaml", "helm")], policies, conftest_bin)
    with pytest.raises(KustodianError, match="policy directory"):
        run([ConftestInput(tmp_path / "x.yaml", "k8s")], tmp_path / "nope", conftest_bin)
    with pytest.raises(KustodianError, match="cannot run conftest"):
        run([ConftestInput(tmp_path / "x.yaml", "k8s")], policies, str(tmp_path / "no-conftest"))
    assert run([], policies, conftest_bin) == []


def test_instruction_splitter_handles_continuations_and_heredocs():
    text = ("FROM a\n\n# comment\nRUN one \\\n  two \\\n\n  three\n"
            "COPY <<A <<'B' /dst/\nbody\nA\nmore\nB\nUSER 1\r\nCMD [\"x\"]\n")
    assert dockerfile_instructions(text) == [
        (1, "from"), (3, "comment"), (4, "run"), (8, "copy"), (13, "user"), (14, "cmd")]


def test_an_unparsable_dockerfile_has_no_instructions_and_no_crash():
    """conftest itself reports a Dockerfile BuildKit cannot parse; the mapper only must not fail."""
    assert dockerfile_instructions("FROM a\nONBUILD\n") in ([], [(1, "from"), (2, "onbuild")])
    assert dockerfile_instructions("\x00\x01 not a dockerfile") == []
    assert dockerfile_instructions("") == []


def test_the_shipped_dockerfile_passes_and_maps_like_conftest(repo_root, policies, conftest_bin):
    dockerfile = repo_root / "Dockerfile"
    assert run([ConftestInput(dockerfile, "dockerfile")], policies, conftest_bin) == []
    parsed = json.loads(subprocess.run(
        [conftest_bin, "parse", "--parser", "dockerfile", str(dockerfile)],
        capture_output=True, text=True, check=True).stdout)[0]
    assert [cmd for _, cmd in dockerfile_instructions(dockerfile.read_text())] == [
        i["Cmd"] for i in parsed]


def test_line_comes_from_the_occurrence_when_indexes_drift(tmp_path, policies, conftest_bin):
    """Two ADD URLs: each finding lands on its own ADD line (occurrence 0 and 1)."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text((FIXTURES / "Dockerfile.good").read_text()
                          + "ADD https://example.com/a /a\n# note\nADD https://example.com/b /b\n")
    lines = dockerfile.read_text().splitlines()
    findings = run([ConftestInput(dockerfile, "dockerfile")], policies, conftest_bin)
    got = sorted(f.line for f in findings if f.rule == "dockerfile-no-add-url")
    assert [lines[n - 1].split()[1] for n in got] == ["https://example.com/a",
                                                     "https://example.com/b"]


def test_a_directory_of_manifests_is_expanded_and_keeps_its_env(tmp_path, policies,
                                                                 conftest_bin):
    folder = tmp_path / "rendered"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(FIXTURES / "k8s-bad.yaml", folder / "nested" / "all.yml")
    (folder / "README.md").write_text("not a manifest\n")
    findings = run([ConftestInput(folder, "k8s", env="prod")], policies, conftest_bin)
    assert {f.rule for f in findings} >= {"argocd-prod-no-auto-sync", "allowed-registries"}
    assert {f.env for f in findings} == {"prod"}


def test_policy_unit_tests_are_not_evaluated(tmp_path, conftest_bin):
    """The gate evaluates the policies of the dir, not their unit tests: a deny rule in a
    `*_test.rego` file (in the very package queried) is not enforced, while helpers in other
    packages and rules in nested dirs are."""
    policy_dir = tmp_path / "policies"
    (policy_dir / "lib").mkdir(parents=True)
    (policy_dir / "k8s").mkdir()
    (policy_dir / "lib" / "words.rego").write_text(
        "package lib.words\nimport rego.v1\nshout(s) := upper(s)\n")
    (policy_dir / "k8s" / "names.rego").write_text(
        "package k8s.names\nimport rego.v1\nimport data.lib.words\n"
        'deny contains words.shout("from the policy") if input.kind == "ConfigMap"\n')
    (policy_dir / "k8s" / "names_test.rego").write_text(
        "package k8s.names\nimport rego.v1\n"
        'deny contains "from its unit test" if true\n'
        'test_shouts if { deny with input as {"kind": "ConfigMap"} }\n')
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    findings = run([ConftestInput(manifest, "k8s", env="dev")], policy_dir, conftest_bin)
    assert [f.message for f in findings] == ["FROM THE POLICY"]
    verify = subprocess.run([conftest_bin, "verify", "--no-color", "--policy", str(policy_dir)],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr    # the test itself runs
