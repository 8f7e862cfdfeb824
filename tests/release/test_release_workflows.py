"""The release workflows call kustodian with options that exist, and wire their triggers."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from kustodian.cli import cli
from ruamel.yaml import YAML

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def load(name: str) -> dict:
    return YAML(typ="safe", pure=True).load((WORKFLOWS / name).read_text())


def invocations(workflow: dict) -> list[list[str]]:
    """Every `kustodian ...` command line in the workflow's run scripts."""
    found = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            script = step.get("run", "").replace("\\\n", " ")
            for line in script.splitlines():
                match = re.search(r"\.venv/bin/kustodian (.*)", line)
                if match:
                    found.append(shlex.split(match.group(1).split(";;")[0].split("|")[0]))
    return found


def command_for(words: list[str]) -> tuple[click.Command, list[str]]:
    command: click.Command = cli
    rest = list(words)
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
    return command, rest


@pytest.mark.parametrize("name", ["bump-dev.yaml", "promote.yaml", "canary.yaml",
                                  "canary-auto.yaml"])
def test_workflow_uses_existing_options(name: str) -> None:
    calls = invocations(load(name))
    assert calls, f"{name} never calls kustodian"
    for words in calls:
        command, rest = command_for(words)
        assert not isinstance(command, click.Group), words
        known = {opt for p in command.params for opt in getattr(p, "opts", [])}
        used = {w for w in rest if w.startswith("--") and not w.startswith("--$")}
        assert used <= known, (words, used - known)


def test_bump_dev_triggers_and_pushes() -> None:
    flow = load("bump-dev.yaml")
    triggers = flow.get("on") or flow.get(True)
    assert set(triggers) == {"workflow_dispatch", "repository_dispatch"}
    assert triggers["repository_dispatch"]["types"] == ["new-image"]
    assert triggers["workflow_dispatch"]["inputs"]["digest"]["required"] is True
    assert flow["permissions"] == {"contents": "write"}
    calls = invocations(flow)
    assert calls[0][:1] == ["bump"] and "--commit" in calls[0] and "--push" in calls[0]
    text = (WORKFLOWS / "bump-dev.yaml").read_text()
    assert "client_payload.digest" in text
    assert "${{" not in "".join(s.get("run", "") for s in flow["jobs"]["bump"]["steps"]), \
        "inputs must reach scripts through env, not template expansion"


def test_promote_opens_a_pull_request_with_the_generated_body() -> None:
    flow = load("promote.yaml")
    steps = flow["jobs"]["promote"]["steps"]
    scripts = "\n".join(s.get("run", "") for s in steps)
    assert "--pr-body" in scripts and "gh pr create" in scripts and "--body-file" in scripts
    assert "${{" not in scripts
    assert flow["permissions"]["pull-requests"] == "write"


def test_canary_auto_runs_on_a_schedule_for_every_canary_env() -> None:
    from kustodian.release.config import load_config

    flow = load("canary-auto.yaml")
    triggers = flow.get("on") or flow.get(True)
    assert "schedule" in triggers and triggers["schedule"][0]["cron"].startswith("*/")
    job = flow["jobs"]["reconcile"]
    config = load_config(WORKFLOWS.parents[1])
    canary_envs = {o.env for o in config.overlays.values() if o.canary}
    assert set(job["strategy"]["matrix"]["env"]) == canary_envs
    assert job["concurrency"]["group"] == "canary-${{ matrix.env }}"   # shared with canary.yaml
    assert job["steps"][0]["with"]["fetch-depth"] == 0                 # soak from commit times
    (call,) = invocations(flow)
    assert call[:2] == ["canary", "auto"]
    scripts = "".join(s.get("run", "") for s in job["steps"])
    assert "--commit" in scripts and "--push" in scripts and "${{" not in scripts
