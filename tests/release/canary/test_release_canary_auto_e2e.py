"""`kustodian canary auto` end to end on real parts: real gunicorn agents (a stable and a
canary per scenario) scraped by a real Prometheus (the canary lab, see lab.py), a local git
repository holding a copy of this repo whose release.canary_analysis selects the scrape jobs
of the test's scenario (its stable and canary).

A healthy canary is walked by successive runs through every weight of release.canary_steps
to promotion (one commit per move, saying why with the numbers); a faulty one
(AGENT_FAULT_RATE on the canary) is aborted by the next run; too little traffic, or a step
that has not soaked, is no move; Prometheus down is exit 2 and no move.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import release_helpers as rh
from release_helpers import DIGEST_A
from support.cli import Run, copy_repo, git, kustodian
from support.processes import free_port

from .lab import Lab

pytestmark = pytest.mark.slow
CANARY = "overlays/prod-canary"
NEW_IMAGE = f"ghcr.io/acme/agent:0.2.0@{DIGEST_A}"


def repo_with_canary(tmp_path: Path, soak: str, scenario: str) -> Path:
    """A copy of this repository (prod on its canary overlay, its canary analysis on the
    scenario's scrape job) with a started prod canary."""
    dest = copy_repo(tmp_path / "repo", config_edits={
        "canary_soak: 10m": f"canary_soak: {soak}", "max_p95_ratio: 1.2": "max_p95_ratio: 3",
        "max_error_ratio: 0.01": "max_error_ratio: 0.02",
        "min_requests: 100": f"min_requests: 100\n    selector: '{Lab.selector(scenario)}'"})
    start = kustodian("canary", "start", "--env", "prod", "--tag", "0.2.0", "--digest",
                      DIGEST_A, "--commit", "--no-check", cwd=dest)
    assert start.returncode == 0, start.stderr
    assert rh.canary_state(dest, CANARY) == (90, 10, 1)
    return dest


def auto(repo: Path, url: str) -> Run:
    return kustodian("canary", "auto", "--env", "prod", "--prometheus", url, "--commit",
                     "--no-check", cwd=repo)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def test_healthy_canary_waits_for_its_soak_then_walks_to_promotion(canary_lab, tmp_path):
    repo = repo_with_canary(tmp_path, soak="1h", scenario="auto-healthy")
    canary_lab.load(["auto-healthy"], 250)
    url = canary_lab.url
    before = head(repo)
    waiting = auto(repo, url)
    assert waiting.returncode == 0, waiting.stderr
    assert "canary auto: wait" in waiting.stdout
    assert "soaked" in waiting.stdout and "the gate passes" in waiting.stdout
    assert head(repo) == before
    config = repo / ".kustodian.yaml"
    config.write_text(config.read_text().replace("canary_soak: 1h", "canary_soak: 0s"))
    git(repo, "commit", "-qam", "no soak for the test")       # does not touch the overlay
    seen = []
    for expected in ((75, 25, 1), (50, 50, 1), (0, 100, 1)):
        run = auto(repo, url)
        assert run.returncode == 0, run.stderr
        assert "canary auto: advance" in run.stdout, run.stdout
        seen.append(rh.canary_state(repo, CANARY))
        assert seen[-1] == expected
        message = git(repo, "log", "-1", "--format=%B")
        assert "canary auto: weight" in message and "Canary-Verdict: advance" in message
        assert "error_ratio[canary] = 0 (<= 0.02) ok" in message
        assert "requests[canary] = " in message and "soaked" in message
    promoted = auto(repo, url)
    assert promoted.returncode == 0 and "canary auto: promote" in promoted.stdout
    docs = rh.build(repo, CANARY)
    assert rh.canary_state_of(docs) == (100, 0, 0)
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in docs if d["kind"] == "Deployment"}
    assert images["agent"] == NEW_IMAGE
    assert "Canary-Verdict: promote" in git(repo, "log", "-1", "--format=%B")
    done = head(repo)
    again = auto(repo, url)                                   # idempotent: nothing left
    assert again.returncode == 0 and "canary auto: idle" in again.stdout
    assert head(repo) == done


def test_faulty_canary_is_aborted_by_the_next_run(canary_lab, tmp_path):
    repo = repo_with_canary(tmp_path, soak="1h", scenario="auto-faulty")  # abort: no soak wait
    stable_image = next(image for image in rh.rendered_images(repo, "overlays/prod"))
    canary_lab.load(["auto-faulty"], 250)
    run = auto(repo, canary_lab.url)
    assert run.returncode == 0, run.stderr
    assert "canary auto: abort" in run.stdout
    docs = rh.build(repo, CANARY)
    assert rh.canary_state_of(docs) == (100, 0, 0)
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in docs if d["kind"] == "Deployment"}
    assert images["agent-canary"] == images["agent"] == stable_image     # image back
    message = git(repo, "log", "-1", "--format=%B")
    assert "abort in prod at weight 10" in message and "Canary-Verdict: abort" in message
    assert "error_ratio[canary] = " in message and "FAIL" in message


def test_too_little_traffic_and_prometheus_down_move_nothing(canary_lab, tmp_path):
    repo = repo_with_canary(tmp_path, soak="0s", scenario="auto-low")
    before, files = head(repo), rh.snapshot(repo)
    canary_lab.load(["auto-low"], 20)
    run = auto(repo, canary_lab.url)
    assert run.returncode == 0, run.stderr
    assert "canary auto: wait" in run.stdout and "fewer than 100 requests" in run.stdout
    assert head(repo) == before and rh.snapshot(repo) == files
    down = auto(repo, f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 2
    assert "unreachable" in down.stderr and "Traceback" not in down.stderr
    assert head(repo) == before and rh.snapshot(repo) == files
