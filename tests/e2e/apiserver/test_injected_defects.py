"""41 single defects injected into the rendered overlays/prod-canary: the gate with
`--apiserver` raises the expected finding for each, at a source line. The ones the API server
rejects are named in defects.REJECTED (31)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from defects import ALL, GATE_ONLY, REJECTED, WARNED, Defect
from kustodian.apiserver import ApiserverCheck
from kustodian.config import load_config
from kustodian.pipeline import CheckOptions, run_check


def check(tmp_path: Path, cluster, docs: list[dict]):
    (tmp_path / ".git").mkdir(exist_ok=True)
    path = tmp_path / "prod-canary.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    options = CheckOptions(env="prod", conftest=False, apiserver=ApiserverCheck(cluster))
    return run_check(tmp_path, [str(path)], options, load_config(tmp_path))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, cluster, prod_canary):
    report = check(tmp_path_factory.mktemp("baseline"), cluster, prod_canary)
    assert not report.errors, report.errors
    return {f.fingerprint() for f in report.findings}


def test_the_render_as_committed_passes_the_api_server(baseline, cluster, prod_canary,
                                                       tmp_path):
    report = check(tmp_path, cluster, prod_canary)
    assert [f for f in report.findings if f.source == "apiserver"] == []


def test_the_defect_list_is_the_one_the_issue_counts():
    assert len(ALL) == 41
    assert len(REJECTED) == 31 and len(WARNED) == 2 and len(GATE_ONLY) == 8
    # each defect below is run against the real API server for the finding it names
    assert {d.rule for d in REJECTED} == {"apiserver-rejected"}
    assert {d.rule for d in WARNED} == {"apiserver-warning"}
    assert len({d.name for d in ALL}) == 41
    assert [d.name for d in REJECTED] == [
        "selector-not-matching-template", "cpu-request-above-limit", "quantity-500mi",
        "duplicate-container-port-names", "probe-with-two-handlers",
        "mount-of-undefined-volume", "duplicate-volume-names",
        "max-surge-and-unavailable-zero", "uppercase-name", "underscore-name",
        "label-value-over-63", "invalid-label-key", "duplicate-service-ports",
        "cluster-ip-outside-service-range", "hpa-average-utilization-0",
        "pdb-min-available-and-max-unavailable", "cron-minute-61", "unknown-time-zone",
        "network-policy-cidr-33", "env-value-from-two-sources", "unsupported-field-ref-path",
        "httproute-relative-path", "httproute-double-slash-path",
        "httproute-backend-timeout-over-request", "missing-namespace",
        "annotations-over-256k", "unknown-field", "wrong-type",
        "container-port-out-of-range", "job-restart-policy-always", "container-without-image"]


@pytest.mark.parametrize("defect", ALL, ids=[d.name for d in ALL])
def test_injected_defect_is_caught(defect: Defect, baseline, cluster, prod_canary, tmp_path):
    docs = copy.deepcopy(prod_canary)
    defect.mutate(docs)
    report = check(tmp_path, cluster, docs)
    assert not report.errors, report.errors
    new = [f for f in report.findings if f.fingerprint() not in baseline]
    hits = [f for f in new if f.rule == defect.rule and f.kind == defect.kind
            and (defect.object_name is None or f.name == defect.object_name)]
    assert hits, (f"{defect.name}: no {defect.rule} on {defect.kind}/{defect.object_name}; "
                  f"new findings: {[(f.rule, f.kind, f.name, f.message) for f in new]}")
    hit = hits[0]
    assert hit.file == "prod-canary.yaml" and hit.line, hit   # mapped to the source line
    if defect in REJECTED:
        assert hit.source == "apiserver" and hit.message
