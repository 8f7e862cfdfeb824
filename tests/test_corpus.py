"""The labelled accuracy corpus (tests/corpus/): `kustodian check` must report every expected
rule, none of the rules a file says it must not trip, and nothing at all on the good set.

Each file is checked on its own with the env from its header, as a user would run
    kustodian check --env ENV --format json tests/corpus/<file>
(in this process, through click's runner).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from kustodian.cli import cli
from support.cli import REPO_ROOT, Run, kustodian

sys.path.insert(0, str(Path(__file__).resolve().parent / "corpus"))

from corpus_labels import CORPUS_DIR, CorpusCase, load_corpus

CASES = load_corpus()

# The core rule ids of the gate; the corpus must have at least one failing case for each, plus
# one for every pod-security rule of the catalogue (the rest of PSS restricted).
CORE_RULES = (
    "run-as-non-root", "no-privilege-escalation", "drop-all-capabilities",
    "no-added-capabilities", "read-only-root-filesystem", "seccomp-profile", "no-privileged",
    "no-host-namespaces", "no-host-path",
    "liveness-probe", "readiness-probe", "probe-port-declared", "resource-requests",
    "resource-limits", "min-replicas", "pod-spread",
    "image-tag-pinned", "image-digest-pinned",
    "no-plaintext-secrets", "service-account-token",
    "pdb-required", "pdb-selects-pods", "pdb-not-blocking", "hpa-pdb-consistent",
    "service-selector-matches", "ingress-backend-exists", "network-policy-coverage",
    "canary-split",
)
POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


def _run(case: CorpusCase) -> Run:
    """`kustodian check --env ENV --format json <file>` from the repository root, in this
    process (click's runner: the same command, options and exit codes as the console script,
    without a Python start-up per file)."""
    rel = case.path.relative_to(REPO_ROOT).as_posix()
    args = ("check", "--env", case.env, "--format", "json", "--root", str(REPO_ROOT),
            str(REPO_ROOT / rel))
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return Run(args, result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def policy_results_primed() -> None:
    """One conftest run over every corpus file, each with its case's env, fills the session's
    policy cache (KUSTODIAN_RENDER_CACHE, tests/conftest.py): each case's own check then reads
    its file's results from the cache instead of starting conftest for one file. The results
    are the same: conftest judges each file on its own, and the key holds everything a
    file's results depend on (tests/kustodian/test_policy_cache.py)."""
    from kustodian.conftest_runner import ConftestInput, run_conftest
    from kustodian.kustomize.build import find_tool

    conftest_bin = find_tool("conftest", REPO_ROOT)
    assert conftest_bin, "conftest is not installed: run `make setup`"
    run_conftest([ConftestInput(c.path, "k8s", c.env, None) for c in CASES],
                 policy_dir=REPO_ROOT / "policies", conftest_bin=conftest_bin, tree=REPO_ROOT)


def _rules_catalogue() -> dict[str, str]:
    """rule id -> category, from kustodian's own catalogue."""
    from kustodian.rules.registry import all_rules

    return {rule.id: rule.category for rule in all_rules()}


def test_corpus_labels_name_real_rules():
    catalogue = _rules_catalogue()
    unknown = sorted({(c.rel, rule) for c in CASES for rule in (*c.expect, *c.expect_not)
                      if rule not in catalogue})
    assert not unknown, f"labels naming rules kustodian does not have: {unknown}"


def test_corpus_covers_every_rule_and_pod_kind():
    expected = {rule for c in CASES for rule in c.expect}
    catalogue = _rules_catalogue()
    wanted = set(CORE_RULES) | {r for r, cat in catalogue.items() if cat == "pod-security"}
    uncovered = sorted(wanted - expected)
    assert not uncovered, f"rules without a failing corpus case: {uncovered}"
    texts = {c.rel: c.path.read_text() for c in CASES}
    for kind in POD_KINDS:
        bad = [r for r, t in texts.items() if r.startswith("bad/") and f"kind: {kind}\n" in t]
        good = [r for r, t in texts.items() if r.startswith("good/") and f"kind: {kind}\n" in t]
        assert bad and good, f"{kind}: needs bad and good corpus files (bad={bad}, good={good})"
    for field in ("initContainers:", "ephemeralContainers:"):
        assert any(field in t for r, t in texts.items() if r.startswith("bad/")), field
    assert sum(c.is_good for c in CASES) >= 20, "the good set is too small to claim zero FPs"


@pytest.mark.parametrize("case", CASES, ids=[c.rel for c in CASES])
def test_corpus_case(case: CorpusCase, policy_results_primed: None):
    out = _run(case)
    assert out.returncode in (0, 1), (
        f"kustodian check failed on {case.rel} (exit {out.returncode}): {out.stderr.strip()}")
    assert "Traceback" not in out.stderr, out.stderr
    findings = out.findings
    reported = {f["rule"] for f in findings}
    summary = [(f["rule"], f.get("container"), f.get("line"), f.get("message")) for f in findings]
    missing = [rule for rule in case.expect if rule not in reported]
    assert not missing, f"{case.rel} ({case.description}): not detected {missing}; got {summary}"
    unwanted = [rule for rule in case.expect_not if rule in reported]
    assert not unwanted, f"{case.rel}: must not report {unwanted}; got {summary}"
    if case.clean:
        assert not findings, f"false positives on good file {case.rel}: {summary}"
        assert out.returncode == 0
    # source mapping: a plain manifest's findings point into that very file, at a real line
    lines = len(case.path.read_text().splitlines())
    for finding in findings:
        assert finding["file"] and Path(finding["file"]).as_posix().endswith(case.rel), finding
        assert finding["line"] and 1 <= finding["line"] <= lines, finding


def test_every_corpus_file_is_a_labelled_case():
    """Nothing under bad/ or good/ is left out (a .yml, a typo in a folder name), bad files
    expect a rule and good files are clean."""
    files = sorted(p.relative_to(CORPUS_DIR).as_posix() for p in CORPUS_DIR.rglob("*")
                   if p.is_file() and p.suffix in (".yaml", ".yml", ".json"))
    assert files == [c.rel for c in CASES]
    assert {c.rel.split("/")[0] for c in CASES} == {"bad", "good"}
    assert all(c.expect and not c.clean for c in CASES if c.rel.startswith("bad/"))
    assert all(c.clean for c in CASES if c.rel.startswith("good/"))
    assert len(CASES) >= 100


# ---------------------------------------------------------------- the synthetic monorepo

sys.path.insert(0, str(REPO_ROOT / "bench"))


def test_synthetic_monorepo_is_deterministic(tmp_path: Path):
    import gen_monorepo

    gen_monorepo.generate(tmp_path / "a", 6, seed=7, violation_rate=0.5)
    gen_monorepo.generate(tmp_path / "b", 6, seed=7, violation_rate=0.5)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                     if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*")
                     if p.is_file())
    assert files_a == files_b and len(files_a) > 6 * 10
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert gen_monorepo.main(["--apps", "2", "--out", str(tmp_path / "a")]) == 2  # not empty


def test_synthetic_monorepo_violations_are_found_at_their_source(tmp_path: Path):
    """Every deliberate violation (one of each kind) is reported on its overlay, pointing at
    the overlay file that introduced it; the apps without a violation are clean."""
    import gen_monorepo

    kinds = len(gen_monorepo.VIOLATIONS)
    meta = gen_monorepo.generate(tmp_path, kinds + 2, seed=3, violation_rate=kinds / (kinds + 2))
    assert len({v["violation"] for v in meta["violations"]}) == kinds
    proc = kustodian("check", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    report = proc.json()
    assert len(report["summary"]["overlays"]) == len(meta["overlays"])
    findings = report["findings"]
    bad_overlays = {o for v in meta["violations"] for o in v["overlays"]}
    stray = [(f["rule"], f["overlay"]) for f in findings if f["overlay"] not in bad_overlays]
    assert not stray, f"findings on overlays without a deliberate violation: {stray}"
    for v in meta["violations"]:
        for overlay in v["overlays"]:
            for rule in v["rules"]:
                hits = [f for f in findings if f["rule"] == rule and f["overlay"] == overlay]
                assert hits, f"{v['violation']} in {overlay}: {rule} not reported"
                assert all(f["file"] and f["line"] for f in hits), hits
    # the source mapping names the overlay patch that set the value, not the rendered output
    patched = [f for f in findings if f["rule"] in ("no-privileged", "no-host-path",
                                                    "no-added-capabilities")]
    assert patched and all(f["file"].endswith("patches/violation.yaml") for f in patched), [
        (f["rule"], f["file"]) for f in patched]
