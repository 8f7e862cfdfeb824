"""Blue-green on a copy of this repository: `kustodian bluegreen deploy|switch|rollback|finish`
with commits, the real kustomize render after each step, the policy gate (its blue-green rules
included) run for real, and hostile edits the gate must refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import release_helpers as rh
from release_helpers import DIGEST_A
from support.cli import Run, copy_repo, git
from support.cli import kustodian as run_kustodian

OVERLAY = "overlays/prod-bluegreen"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")


def kustodian(repo: Path, *args: str) -> Run:
    return run_kustodian(*args, cwd=repo)


def ok(repo: Path, *args: str) -> str:
    proc = kustodian(repo, *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def state(repo: Path) -> dict:
    """What prod-bluegreen renders: who serves, what each colour runs."""
    docs = rh.build(repo, OVERLAY)
    get = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    out = {"public": get[("Service", "agent")]["spec"]["selector"]["color"],
           "preview": get[("Service", "agent-preview")]["spec"]["selector"]["color"],
           "hpa": get[("HorizontalPodAutoscaler", "agent")]["spec"]["scaleTargetRef"]["name"],
           "pdb": get[("PodDisruptionBudget", "agent")]["spec"]["selector"]["matchLabels"][
               "color"]}
    for colour in ("blue", "green"):
        dep = get[("Deployment", f"agent-{colour}")]
        out[colour] = (dep["spec"]["template"]["spec"]["containers"][0]["image"],
                       dep["spec"]["replicas"])
    assert ("Deployment", "agent") not in get
    assert ("ConfigMap", "agent-bluegreen") not in get          # local-config, never deployed
    return out


def last_commit(repo: Path) -> tuple[str, list[str]]:
    message = git(repo, "log", "-1", "--format=%B")
    files = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    return message, files


def set_hold(repo: Path, hold: str) -> None:
    config = repo / ".kustodian.yaml"
    config.write_text(config.read_text().replace("bluegreen_hold: 30m", f"bluegreen_hold: {hold}"))
    git(repo, "commit", "-qam", f"hold {hold}")


def test_deploy_switch_rollback_finish_each_one_minimal_commit(copy: Path) -> None:
    start = state(copy)
    old_image = start["blue"][0]
    assert start == {**start, "public": "blue", "preview": "green", "hpa": "agent-blue",
                     "pdb": "blue", "green": (old_image, 0)}
    assert start["blue"][1] == 3

    refused = kustodian(copy, "bluegreen", "switch", "--env", "prod", "--commit")
    assert refused.returncode == 2 and "runs 0 replicas" in refused.stderr

    before = (copy / OVERLAY / "kustomization.yaml").read_bytes()
    ok(copy, "bluegreen", "deploy", "--env", "prod", "--tag", "0.2.0", "--digest", DIGEST_A,
       "--commit")
    new_image = f"ghcr.io/acme/agent:0.2.0@{DIGEST_A}"
    s = state(copy)
    assert (s["public"], s["preview"], s["green"], s["blue"]) == \
        ("blue", "green", (new_image, 3), (old_image, 3))
    message, files = last_commit(copy)
    assert files == [f"{OVERLAY}/kustomization.yaml"]
    assert "to the idle colour green in prod (3 replicas, preview)" in message
    changed = rh.changed_lines(before, (copy / OVERLAY / "kustomization.yaml").read_bytes())
    assert len(changed) == 2, changed                       # green's newTag and count

    ok(copy, "bluegreen", "switch", "--env", "prod", "--commit")
    s = state(copy)
    assert (s["public"], s["preview"], s["hpa"], s["pdb"]) == \
        ("green", "blue", "agent-green", "green")
    assert s["blue"] == (old_image, 3)                     # kept for a rollback
    message, files = last_commit(copy)
    assert files == [f"{OVERLAY}/bluegreen.yaml"]
    assert "switch prod to green" in message and "Bluegreen-Hold: 30m" in message

    early = kustodian(copy, "bluegreen", "finish", "--env", "prod", "--commit")
    assert early.returncode == 2 and "hold time after the switch has not passed" in early.stderr
    assert "Traceback" not in early.stderr

    ok(copy, "bluegreen", "rollback", "--env", "prod", "--commit")
    s = state(copy)
    assert (s["public"], s["hpa"], s["pdb"]) == ("blue", "agent-blue", "blue")
    assert "roll back prod to blue" in last_commit(copy)[0]

    ok(copy, "bluegreen", "switch", "--env", "prod", "--commit")
    set_hold(copy, "0s")
    ok(copy, "bluegreen", "finish", "--env", "prod", "--commit")
    s = state(copy)
    assert s["public"] == "green" and s["blue"] == (old_image, 0) and s["green"][1] == 3
    message, files = last_commit(copy)
    assert files == [f"{OVERLAY}/kustomization.yaml"]
    assert "scale blue" in message and "Bluegreen-Held:" in message and "Held " in message

    late = kustodian(copy, "bluegreen", "rollback", "--env", "prod", "--commit")
    assert late.returncode == 2 and "already scaled to 0" in late.stderr
    branches = git(copy, "branch", "--format=%(refname:short)").split()
    assert sum(b.startswith("release/prod/bluegreen") for b in branches) == 5


def test_switch_is_refused_when_the_gate_fails_and_cannot_skip_it(copy: Path) -> None:
    """A hostile (or careless) overlay pins the HPA to blue: switching to green would leave
    the HPA scaling the old colour. The gate refuses the switch and restores the files."""
    kfile = copy / OVERLAY / "kustomization.yaml"
    kfile.write_text(kfile.read_text() + (
        "  - target: {kind: HorizontalPodAutoscaler, name: agent}\n"
        "    patch: |-\n"
        "      - op: replace\n"
        "        path: /spec/scaleTargetRef/name\n"
        "        value: agent-blue\n"))
    git(copy, "commit", "-qam", "pin the HPA")
    ok(copy, "bluegreen", "deploy", "--env", "prod", "--digest", DIGEST_A, "--no-check")
    git(copy, "commit", "-qam", "deploy green")
    skip = kustodian(copy, "bluegreen", "switch", "--env", "prod", "--no-check")
    assert skip.returncode == 2 and "--no-check is refused" in skip.stderr
    before = rh.snapshot(copy)
    proc = kustodian(copy, "bluegreen", "switch", "--env", "prod")      # even without --commit
    assert proc.returncode == 1, proc.stderr
    assert "bluegreen-pdb-hpa-follow-active" in proc.stderr
    assert rh.snapshot(copy) == before


def findings(repo: Path) -> set[str]:
    proc = kustodian(repo, "check", "--format", "json", OVERLAY)
    assert proc.returncode in (0, 1), proc.stderr
    return {f["rule"] for f in json.loads(proc.stdout)["findings"]}


def test_gate_rules_on_hostile_blue_green_edits(copy: Path) -> None:
    assert not {r for r in findings(copy) if r.startswith("bluegreen")}
    component = copy / "components/blue-green"
    kfile = component / "kustomization.yaml"
    pristine = kfile.read_text()
    # the public Service selects both colours (the colour replacement removed)
    kfile.write_text(pristine.replace("          - spec.selector.color\n        options:\n"
                                      "          create: true\n", "          - spec.type\n", 1))
    assert "bluegreen-public-one-color" in findings(copy)
    kfile.write_text(pristine)
    # switch to a colour with 0 replicas by hand
    state_file = copy / OVERLAY / "bluegreen.yaml"
    state_file.write_text(state_file.read_text().replace("active: blue", "active: green"))
    got = findings(copy)
    assert {"bluegreen-active-has-replicas"} <= got
    state_file.write_text(state_file.read_text().replace("active: green", "active: blue"))
    # the preview route put on the public Gateway (prod)
    route = component / "httproute-preview.yaml"
    route.write_text(route.read_text().replace("name: internal-gateway", "name: shared-gateway"))
    assert "bluegreen-preview-not-public" in findings(copy)
