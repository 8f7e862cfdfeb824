"""The release commands on a copy of this repository's own overlays (the real layout).

The copy holds .kustodian.yaml, base/, components/, overlays/ and policies/ in a fresh git
repo; results are checked in what the real kustomize renders.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import release_helpers as rh
from release_helpers import DIGEST_A, DIGEST_B
from support.cli import copy_repo, git, kustodian


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")


def ok(repo: Path, *args: str) -> str:
    proc = kustodian(*args, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def agent_image(repo: Path, overlay: str) -> str:
    return next(c["image"] for d in rh.build(repo, overlay) if d["kind"] == "Deployment"
                and d["metadata"]["name"] == "agent"
                for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == "agent")


def test_bump_and_promote_along_the_configured_order(copy: Path) -> None:
    ok(copy, "bump", "--env", "dev", "--tag", "0.3.0", "--digest", DIGEST_A, "--no-check")
    assert agent_image(copy, "overlays/dev") == f"ghcr.io/acme/agent:0.3.0@{DIGEST_A}"
    ok(copy, "promote", "--from", "dev", "--to", "staging")
    assert agent_image(copy, "overlays/staging") == f"ghcr.io/acme/agent:0.3.0@{DIGEST_A}"
    assert agent_image(copy, "overlays/staging-canary") == f"ghcr.io/acme/agent:0.3.0@{DIGEST_A}"
    dev_settings = copy / "overlays/dev/release/settings.yaml"
    if dev_settings.is_file():
        assert (copy / "overlays/staging/release/settings.yaml").read_bytes() == \
            dev_settings.read_bytes()
    ok(copy, "promote", "--from", "staging", "--to", "prod")
    assert agent_image(copy, "overlays/prod") == f"ghcr.io/acme/agent:0.3.0@{DIGEST_A}"


def test_prod_canary_round_trip_with_the_policy_gate(copy: Path) -> None:
    overlay = "overlays/prod-canary"
    ok(copy, "canary", "abort", "--env", "prod")            # idle, whatever the tree holds
    git(copy, "commit", "-qam", "idle", "--allow-empty")
    assert rh.canary_state(copy, overlay)[1:] == (0, 0)
    out = ok(copy, "canary", "start", "--env", "prod", "--digest", DIGEST_B, "--tag", "0.4.0",
             "--commit")
    assert "committed" in out
    subject = git(copy, "log", "-1", "--format=%s").strip()
    assert subject == f"chore(release): start canary of agent 0.4.0@{DIGEST_B} in prod at weight 10"
    assert git(copy, "show", "--name-only", "--format=", "HEAD").split() == [
        "overlays/prod-canary/kustomization.yaml"]
    assert rh.canary_state(copy, overlay) == (90, 10, 1)
    ok(copy, "canary", "weight", "next", "--env", "prod", "--no-check")
    assert rh.canary_state(copy, overlay) == (75, 25, 1)
    ok(copy, "canary", "promote", "--env", "prod", "--no-check")
    assert rh.canary_state(copy, overlay) == (100, 0, 0)
    assert agent_image(copy, "overlays/prod") == f"ghcr.io/acme/agent:0.4.0@{DIGEST_B}"
