"""`kustodian canary auto` end to end on real parts: two real gunicorn agents (stable and
canary) scraped by a real Prometheus, a local git repository holding a copy of this repo.

A healthy canary is walked by successive runs through every weight of release.canary_steps
to promotion (one commit per move, saying why with the numbers); a faulty one
(AGENT_FAULT_RATE on the canary) is aborted by the next run; too little traffic, or a step
that has not soaked, is no move; Prometheus down is exit 2 and no move.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import release_helpers as rh
from release_helpers import DIGEST_A
from support.agent import agent_server
from support.cli import Run, copy_repo, git, kustodian
from support.processes import free_port
from test_release_canary_gate_e2e import AGENT_ENV, drive, prometheus, wait_scraped

pytestmark = pytest.mark.slow
CANARY = "overlays/prod-canary"
NEW_IMAGE = f"ghcr.io/acme/agent:0.2.0@{DIGEST_A}"


@pytest.fixture(scope="module")
def redis_url():
    from support.processes import RedisServer

    server = RedisServer().start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def stable(redis_url):
    with agent_server(redis_url, workers=2, env=AGENT_ENV) as agent:
        yield agent


def repo_with_canary(tmp_path: Path, soak: str) -> Path:
    """A copy of this repository (prod on its canary overlay) with a started prod canary."""
    dest = copy_repo(tmp_path / "repo", config_edits={
        "canary_soak: 10m": f"canary_soak: {soak}", "max_p95_ratio: 1.2": "max_p95_ratio: 3",
        "max_error_ratio: 0.01": "max_error_ratio: 0.02"})
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


@contextlib.contextmanager
def traffic(stable, canary, requests_each: int) -> Iterator[str]:
    """Prometheus over both agents with a warm-up and `requests_each` requests each."""
    agents = {"stable": stable, "canary": canary}
    with prometheus({t: a.port for t, a in agents.items()}) as url:
        warmup = drive([stable, canary], 20)
        wait_scraped(url, agents, warmup)
        counts = drive([stable, canary], requests_each)
        total = {a.base_url: {s: warmup[a.base_url].get(s, 0) + n
                              for s, n in counts[a.base_url].items()} for a in agents.values()}
        wait_scraped(url, agents, total)
        yield url


def test_healthy_canary_waits_for_its_soak_then_walks_to_promotion(stable, redis_url,
                                                                   tmp_path):
    repo = repo_with_canary(tmp_path, soak="1h")
    with agent_server(redis_url, workers=2, env=AGENT_ENV) as canary, \
            traffic(stable, canary, 250) as url:
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
        assert rh.canary_state(repo, CANARY) == (100, 0, 0)
        images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
                  for d in rh.build(repo, CANARY) if d["kind"] == "Deployment"}
        assert images["agent"] == NEW_IMAGE
        assert "Canary-Verdict: promote" in git(repo, "log", "-1", "--format=%B")
        done = head(repo)
        again = auto(repo, url)                                   # idempotent: nothing left
        assert again.returncode == 0 and "canary auto: idle" in again.stdout
        assert head(repo) == done


def test_faulty_canary_is_aborted_by_the_next_run(stable, redis_url, tmp_path):
    repo = repo_with_canary(tmp_path, soak="1h")             # abort does not wait for a soak
    stable_image = next(image for image in rh.rendered_images(repo, "overlays/prod"))
    faulty = {**AGENT_ENV, "AGENT_FAULT_RATE": "0.2"}
    with agent_server(redis_url, workers=2, env=faulty) as canary, \
            traffic(stable, canary, 250) as url:
        run = auto(repo, url)
    assert run.returncode == 0, run.stderr
    assert "canary auto: abort" in run.stdout
    assert rh.canary_state(repo, CANARY) == (100, 0, 0)
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in rh.build(repo, CANARY) if d["kind"] == "Deployment"}
    assert images["agent-canary"] == images["agent"] == stable_image     # image back
    message = git(repo, "log", "-1", "--format=%B")
    assert "abort in prod at weight 10" in message and "Canary-Verdict: abort" in message
    assert "error_ratio[canary] = " in message and "FAIL" in message


def test_too_little_traffic_and_prometheus_down_move_nothing(stable, redis_url, tmp_path):
    repo = repo_with_canary(tmp_path, soak="0s")
    before, files = head(repo), rh.snapshot(repo)
    with agent_server(redis_url, workers=1, env=AGENT_ENV) as canary, \
            traffic(stable, canary, 20) as url:
        run = auto(repo, url)
    assert run.returncode == 0, run.stderr
    assert "canary auto: wait" in run.stdout and "fewer than 100 requests" in run.stdout
    assert head(repo) == before and rh.snapshot(repo) == files
    down = auto(repo, f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 2
    assert "unreachable" in down.stderr and "Traceback" not in down.stderr
    assert head(repo) == before and rh.snapshot(repo) == files
