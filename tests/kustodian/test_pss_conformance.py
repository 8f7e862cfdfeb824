"""Pod Security conformance: the rules that enforce a Pod Security Admission check agree
with the upstream fixtures (k8s.io/pod-security-admission test/testdata, fetched by
tools/setup/fetch-psa.sh at the pinned version), for every policy version from 1.25 on:

- every `restricted/v1.N/fail/<check>N.yaml` is flagged by a rule enforcing <check> when
  judged at version 1.N;
- no `restricted/v1.N/pass/*.yaml` is flagged by any rule enforcing a Pod Security check;
- every `baseline/v1.N/fail/<check>N.yaml` is flagged by a rule enforcing <check> (baseline
  pass fixtures may break restricted checks, so they are not asserted).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml
from kustodian.resources import Resource
from kustodian.rules.context import PSS_NEWEST, OverlayContext
from kustodian.rules.registry import all_rules

FIXTURES = Path(__file__).resolve().parents[2] / ".cache" / "psa" / "testdata"
FIRST = (1, 25)


def _versions(level: str) -> list[str]:
    if not (FIXTURES / level).is_dir():
        return []
    found = []
    for d in (FIXTURES / level).iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)", d.name)
        if match and (int(match.group(1)), int(match.group(2))) >= FIRST:
            found.append(d.name)
    return sorted(found, key=lambda v: tuple(map(int, v[1:].split("."))))


def _needs_fixtures() -> None:
    if not FIXTURES.is_dir():
        pytest.fail(f"{FIXTURES} is missing: run `make setup` (tools/setup/fetch-psa.sh)")


@cache
def _pss_rules() -> dict[str, list]:
    """Upstream check id (lowercase, as in fixture names) -> the rules enforcing it."""
    out: dict[str, list] = {}
    for rule in all_rules():
        for check in rule.pss:
            out.setdefault(check.lower(), []).append(rule)
    return out


def _violations(path: Path, version: str) -> dict[str, list]:
    """rule id -> violations, for every rule enforcing a Pod Security check."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    resource = Resource(doc)
    w = resource.workload
    assert w is not None, path
    major, minor = map(int, version[1:].split("."))
    ctx = OverlayContext([resource], kubernetes_version=(major, minor))
    seen = {r.id: r for rules in _pss_rules().values() for r in rules}
    return {rid: found for rid, rule in seen.items() if (found := list(rule.check(w, ctx)))}


def _check_of(fixture: Path) -> str:
    return re.sub(r"\d+$", "", fixture.stem)


@pytest.mark.parametrize("version", _versions("restricted") or ["(missing)"])
def test_restricted_fail_fixtures_are_flagged_by_the_rule_for_their_check(version: str
                                                                          ) -> None:
    _needs_fixtures()
    missed = []
    for fixture in sorted((FIXTURES / "restricted" / version / "fail").glob("*.yaml")):
        check = _check_of(fixture)
        rules = _pss_rules().get(check)
        assert rules, f"no rule enforces the Pod Security check {check!r} ({fixture.name})"
        flagged = _violations(fixture, version)
        if not any(r.id in flagged for r in rules):
            missed.append(f"{fixture.name} (expected {[r.id for r in rules]}, got "
                          f"{sorted(flagged)})")
    assert not missed, f"{version}: not flagged:\n" + "\n".join(missed)


@pytest.mark.parametrize("version", _versions("restricted") or ["(missing)"])
def test_restricted_pass_fixtures_are_not_flagged_by_any_pod_security_rule(version: str
                                                                           ) -> None:
    _needs_fixtures()
    wrong = []
    for fixture in sorted((FIXTURES / "restricted" / version / "pass").glob("*.yaml")):
        flagged = _violations(fixture, version)
        if flagged:
            found = ", ".join(f"{k}: {v[0].message}" for k, v in flagged.items())
            wrong.append(f"{fixture.name}: {found}")
    assert not wrong, f"{version}: flagged:\n" + "\n".join(wrong)


@pytest.mark.parametrize("version", _versions("baseline") or ["(missing)"])
def test_baseline_fail_fixtures_are_flagged_by_the_rule_for_their_check(version: str) -> None:
    _needs_fixtures()
    missed = []
    for fixture in sorted((FIXTURES / "baseline" / version / "fail").glob("*.yaml")):
        rules = _pss_rules().get(_check_of(fixture), [])
        flagged = _violations(fixture, version)
        if not any(r.id in flagged for r in rules):
            missed.append(f"{fixture.name} (got {sorted(flagged)})")
    assert not missed, f"{version}: not flagged:\n" + "\n".join(missed)


def test_the_fixtures_reach_the_newest_version_the_rules_implement() -> None:
    _needs_fixtures()
    newest = _versions("restricted")[-1]
    assert tuple(map(int, newest[1:].split("."))) == PSS_NEWEST, (
        f"the pinned fixtures go up to {newest}: implement its checks and raise PSS_NEWEST")


# --- the policy version a pod is judged by -------------------------------------------------

SYSCTL_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: tuned
  namespace: {namespace}
spec:
  securityContext:
    sysctls:
    - name: net.ipv4.tcp_rmem
      value: "4096 87380 6291456"
  containers:
  - name: app
    image: registry.example/app@sha256:{digest}
"""


def _sysctl_findings(tree, files: dict[str, str]) -> list[dict]:
    from support.cli import kustodian

    root = tree(files)
    run = kustodian("check", "--no-schema", "--no-conftest", "--format", "json", "apps",
                    cwd=root)
    assert run.returncode in (0, 1), run.stdout + run.stderr
    return [f for f in run.findings if f["rule"] == "safe-sysctls"]


def _namespace(name: str, version: str | None) -> str:
    labels = f"\n  labels: {{pod-security.kubernetes.io/enforce-version: {version}}}" \
        if version else ""
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}{labels}\n"


@pytest.mark.parametrize(("config", "ns_version", "flagged"), [
    (None, None, False),              # the pinned Kubernetes version (1.34): allowed
    ('kubernetes_version: "1.31"\n', None, True),
    ('kubernetes_version: "1.32"\n', None, False),
    ('kubernetes_version: "1.34"\n', "v1.31", True),   # the Namespace label wins
    ('kubernetes_version: "1.34"\n', "latest", False),
    ('kubernetes_version: "1.34"\n', "v1.32", False),
    # a cluster enforces no policy newer than its own version, whatever the label says
    ('kubernetes_version: "1.31"\n', "latest", True),
    ('kubernetes_version: "1.31"\n', "v1.32", True),
])
def test_safe_sysctls_follow_the_policy_version(tree, config, ns_version, flagged) -> None:
    files = {"apps/pod.yaml": SYSCTL_POD.format(namespace="apps", digest="a" * 64),
             "apps/ns.yaml": _namespace("apps", ns_version)}
    if config:
        files[".kustodian.yaml"] = config
    found = _sysctl_findings(tree, files)
    assert bool(found) == flagged, found
    if flagged:
        assert "safe from Pod Security policy 1.32 on" in found[0]["message"]


def test_run_as_root_in_a_user_namespace_is_allowed_from_policy_1_35() -> None:
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "userns"},
           "spec": {"hostUsers": False, "securityContext": {"runAsUser": 0},
                    "containers": [{"name": "c", "image": "x"}]}}
    rule = next(r for r in all_rules() if r.id == "run-as-non-root")
    resource = Resource(doc)
    for version, flagged in (((1, 34), True), ((1, 35), False)):
        ctx = OverlayContext([resource], kubernetes_version=version)
        assert bool(list(rule.check(resource.workload, ctx))) == flagged, version


def test_a_bad_kubernetes_version_in_the_config_is_a_clear_error(tree) -> None:
    from support.cli import kustodian

    root = tree({".kustodian.yaml": "kubernetes_version: 1.3x\n",
                 "apps/ns.yaml": _namespace("apps", None)})
    run = kustodian("check", "--no-schema", "--no-conftest", "apps", cwd=root)
    assert run.returncode == 2 and "kubernetes_version" in run.stderr + run.stdout
