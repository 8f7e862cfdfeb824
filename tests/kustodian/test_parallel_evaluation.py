"""Large targets are evaluated in forked slices; the report must be exactly the sequential one
(findings, lines, exemption use counts), and a failing child must not lose its slice."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
import yaml
from kustodian import pipeline
from kustodian.forking import fork_map
from kustodian.pipeline import CheckOptions, run_check
from manifests import fresh, pod_spec


def _apps(root: Path, count: int) -> Path:
    """`count` apps of 5 resources in 8 files, with broken rules, exemptions (used, unused,
    expired) and cross-resource gaps spread over them."""
    (root / ".git").mkdir(exist_ok=True)
    out = root / "apps"
    out.mkdir()
    for n in range(count):
        docs = fresh()
        for doc in docs:
            doc["metadata"]["name"] = f"{doc['metadata'].get('name', 'x')}-{n}"
            doc["metadata"]["namespace"] = f"ns-{n}"
        spec = pod_spec(docs)
        if n % 3 == 0:
            spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
        if n % 5 == 0:
            docs[0]["metadata"]["annotations"] = {
                "kustodian.io/exempt": "read-only-root-filesystem: needs a writable root; "
                                       f"expires={dt.date.today() + dt.timedelta(days=30)}"}
        if n % 11 == 0:
            docs[0]["metadata"]["annotations"] = {
                "kustodian.io/exempt": "liveness-probe: old; expires=2020-01-01"}
        if n % 4 == 1:
            docs = [d for d in docs if d["kind"] != "NetworkPolicy"]
        if n % 6 == 2:
            docs = [d for d in docs if d["kind"] != "PodDisruptionBudget"]
        if n % 8 in (3, 6):   # shared dicts dump as YAML anchors: PyYAML reads those files
            spec["containers"][0]["securityContext"]["privileged"] = True
            deployment = next(d for d in docs if d["kind"] == "Deployment")
            deployment["spec"]["template"]["metadata"]["labels"] = \
                deployment["spec"]["selector"]["matchLabels"]
        with (out / f"apps-{n % 8}.yaml").open("a", encoding="utf-8") as handle:
            handle.write("---\n" + yaml.safe_dump_all(docs, sort_keys=False))
    return root


def _report(root: Path, workers: int) -> tuple[list[dict], list[dict], int]:
    report = run_check(root, [str(root / "apps")], CheckOptions(env="prod", conftest=False,
                                                    workers=workers))
    assert report.errors == []
    return ([f.to_json() for f in report.findings],
            sorted((e.to_json() for e in report.exemptions), key=repr), report.resources)


def test_forked_slices_give_the_sequential_report(tmp_path, monkeypatch):
    root = _apps(tmp_path, 90)
    assert "&id" in (root / "apps" / "apps-3.yaml").read_text()
    sequential = _report(root, workers=1)
    parts_used: list[int] = []

    def observed(work, parts):
        parts_used.append(parts)
        return fork_map(work, parts)

    monkeypatch.setattr(pipeline, "fork_map", observed)
    parallel = _report(root, workers=2)
    assert parts_used == [2]
    assert parallel == sequential
    findings, exemptions, resources = parallel
    assert resources > 400
    rules = {f["rule"] for f in findings}
    assert {"read-only-root-filesystem", "network-policy-coverage", "exemption-expired",
            "no-privileged"} <= rules
    for anchored in ("apps/apps-3.yaml", "apps/apps-6.yaml"):   # located here / in a child
        assert any(f["rule"] == "no-privileged" and f["file"] == anchored for f in findings)
    assert all(f["line"] for f in findings)
    assert sum(e["suppressed"] for e in exemptions) > 0


def _work(k: int) -> tuple[int, int]:
    return k * k, os.getpid()


def test_fork_map_runs_slices_in_other_processes():
    results = fork_map(_work, 3)
    assert [value for (value, _), _ in results] == [0, 1, 4]
    assert [ran_here for _, ran_here in results] == [True, False, False]
    pids = {pid for (_, pid), _ in results}
    assert os.getpid() in pids and len(pids) == 3


def test_a_failing_child_has_its_slice_redone_here():
    parent = os.getpid()

    def flaky(k: int) -> int:
        if os.getpid() != parent:
            raise RuntimeError("child trouble")
        return k + 10

    assert fork_map(flaky, 3) == [(10, True), (11, True), (12, True)]


def test_an_error_here_stops_the_children():
    def failing_here(k: int) -> int:
        if k == 0:
            raise ValueError("parent trouble")
        time.sleep(30)
        return k

    started = time.monotonic()
    with pytest.raises(ValueError, match="parent trouble"):
        fork_map(failing_here, 3)
    assert time.monotonic() - started < 20   # the sleeping children were killed, not awaited
    assert _forked_children() == []            # and reaped (no zombie left)


def _forked_children() -> list[int]:
    """Children of this process that are forks of it (same command line), zombies included."""
    me = os.getpid()
    mine = Path(f"/proc/{me}/cmdline").read_bytes()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == me and (entry / "cmdline").read_bytes() in (mine, b""):
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.parametrize("parts", [0, 1])
def test_one_slice_runs_here(parts):
    assert fork_map(lambda k: k, parts) == [(k, True) for k in range(parts)]
