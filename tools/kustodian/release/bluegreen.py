"""Blue-green steps as edits of the blue-green overlay (components/blue-green).

The overlay holds every knob on its own line: `bluegreen.yaml` (`active:` and `preview:`
colour), `images:` (`agent-blue` / `agent-green`, each colour's version) and `replicas:`
(each colour's size). The steps:

    deploy   the idle colour gets the image and the active colour's size (preview only)
    switch   active <-> preview (the gate must pass: the new colour runs, PDB/HPA follow)
    rollback the same flip back, while the old colour still runs
    finish   the idle (old) colour scaled to 0, once the hold time since the switch passed
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ruamel.yaml.nodes import MappingNode, ScalarNode

from kustodian.errors import KustodianError
from kustodian.release import gitflow
from kustodian.release.bump import check_version_for_env, find_entries, plan_image
from kustodian.release.changes import ChangeSet
from kustodian.release.config import ReleaseConfig
from kustodian.release.kustomization import YamlFile, local_kustomizations
from kustodian.release.reference import ImageVersion
from kustodian.release.slots import (
    Slot,
    plan_ints,
    replicas_field_slots,
    short_name,
    step_changes,
)
from kustodian.release.yamlsplice import SplicedText, mapping_get

COLOURS = ("blue", "green")
STATE_FILE = "bluegreen.yaml"
GATE_RULES = frozenset({"bluegreen-public-one-color", "bluegreen-active-has-replicas",
                        "bluegreen-pdb-hpa-follow-active", "bluegreen-preview-not-public"})


@dataclass
class BlueGreenState:
    config: ReleaseConfig
    env: str
    overlay: str
    state_file: YamlFile
    active: str
    preview: str
    active_node: ScalarNode
    preview_node: ScalarNode
    replicas: dict[str, Slot]
    versions: dict[str, ImageVersion]

    def deployment(self, colour: str) -> str:
        return f"agent-{colour}"

    def size(self, colour: str) -> int:
        return self.replicas[colour].value

    def describe(self, colour: str) -> str:
        return f"{colour} {self.versions[colour] or '(unpinned)'} x{self.size(colour)}"


def image_placeholder(colour: str) -> str:
    return f"agent-{colour}"


def load_state(config: ReleaseConfig, env: str) -> BlueGreenState:
    overlay = config.bluegreen_overlay(env).path
    path = config.root / overlay / STATE_FILE
    if not path.is_file():
        raise KustodianError(f"{overlay}/{STATE_FILE} is missing",
                             hint="a blue-green overlay keeps its colours there "
                                  "(see overlays/prod-bluegreen)")
    state_file = YamlFile.load(config.inside(path, "blue-green state file"), config)
    data = mapping_get(state_file.root, "data") if isinstance(state_file.root,
                                                              MappingNode) else None
    nodes = {}
    for key in ("active", "preview"):
        pair = mapping_get(data[1], key) if data and isinstance(data[1], MappingNode) else None
        if not pair or not isinstance(pair[1], ScalarNode) or pair[1].value not in COLOURS:
            raise KustodianError(f"data.{key} must be blue or green", file=state_file.rel,
                                 hint="bluegreen.yaml: data: {active: blue, preview: green}")
        nodes[key] = pair[1]
    active, preview = nodes["active"].value, nodes["preview"].value
    if active == preview:
        raise KustodianError(f"active and preview are both {active}", file=state_file.rel)
    files = local_kustomizations(config.root / overlay, config)
    replicas: dict[str, Slot] = {}
    versions: dict[str, ImageVersion] = {}
    for colour in COLOURS:
        slots = [s for kfile in files for s in replicas_field_slots(kfile, f"agent-{colour}")]
        if len(slots) != 1:
            raise KustodianError(f"{overlay} needs one `replicas:` entry for agent-{colour}, "
                                 f"found {len(slots)}", hint="replicas: [{name: agent-blue, "
                                                             "count: 3}, {name: agent-green, "
                                                             "count: 0}]")
        replicas[colour] = slots[0]
        _, entries = find_entries(config, overlay, image_placeholder(colour))
        found = {entry.version for entry in entries}
        if len(found) > 1:
            raise KustodianError(f"{overlay} pins {image_placeholder(colour)} to different "
                                 "versions")
        versions[colour] = found.pop() if found else ImageVersion()
    return BlueGreenState(config, env, overlay, state_file, active, preview, nodes["active"],
                          nodes["preview"], replicas, versions)


def plan_deploy(config: ReleaseConfig, env: str, version: ImageVersion) -> ChangeSet:
    """The idle colour gets `version` and the active colour's size (reachable as preview)."""
    state = load_state(config, env)
    check_version_for_env(config, env, version)
    idle, size = state.preview, state.size(state.active)
    if size <= 0:
        raise KustodianError(f"the active colour {state.active} of {env} runs 0 replicas",
                             hint="fix the overlay's replicas: first")
    changes = step_changes(state, "bluegreen deploy", state.describe(idle),
                       f"{idle} {version} x{size}")
    changes.slug = f"bluegreen-{idle}-{version.short()}"
    changes.subject = (f"chore(release): deploy {short_name(config.image)} {version} to the idle "
                       f"colour {idle} in {env} ({size} replicas, preview)")
    changes.details = [
        f"{idle} (idle, behind the preview Service) goes from {state.describe(idle)} to "
        f"{version} x{size}; {state.active} ({state.describe(state.active)}) keeps serving.",
        f"Next: check the preview, then `kustodian bluegreen switch --env {env}`."]
    changes.trailers = {"Bluegreen-Active": state.active, "Bluegreen-Deployed": idle}
    plan_ints(changes, [(state.replicas[idle], size)])
    plan_image(config, state.overlay, image_placeholder(idle), version, changes,
               new_name=config.image)
    return changes


def _plan_flip(state: BlueGreenState, changes: ChangeSet) -> None:
    sp = SplicedText(state.state_file.text, state.state_file.rel)
    sp.set_string(state.active_node, state.preview, ("data", "active"), flow=False)
    sp.set_string(state.preview_node, state.active, ("data", "preview"), flow=False)
    changes.add(state.state_file.path, state.state_file.rel, state.state_file.raw,
                state.state_file.encode(sp.result()))


def _require_running(state: BlueGreenState, colour: str, what: str) -> None:
    if state.size(colour) <= 0:
        raise KustodianError(
            f"cannot {what}: colour {colour} of {state.env} runs 0 replicas",
            hint=f"deploy it first: kustodian bluegreen deploy --env {state.env} --digest ...")
    if state.versions[colour].empty:
        raise KustodianError(f"cannot {what}: colour {colour} of {state.env} has no image pin",
                             file=f"{state.overlay}/kustomization.yaml")


def plan_switch(config: ReleaseConfig, env: str) -> ChangeSet:
    """The public Service (and PDB, HPA) move to the idle colour; the old one keeps running."""
    state = load_state(config, env)
    new, old = state.preview, state.active
    _require_running(state, new, "switch")
    check_version_for_env(config, env, state.versions[new])
    hold = config.bluegreen_hold
    changes = step_changes(state, "bluegreen switch", f"active {state.describe(old)}",
                       f"active {state.describe(new)}")
    changes.slug = f"bluegreen-switch-{new}"
    changes.subject = (f"chore(release): switch {env} to {new} ({short_name(config.image)} "
                       f"{state.versions[new]}); {old} kept for rollback")
    changes.details = [
        f"Public traffic moves from {old} ({state.describe(old)}) to {new} "
        f"({state.describe(new)}); the PDB and HPA follow {new}.",
        f"{old} keeps running for `kustodian bluegreen rollback --env {env}`; "
        f"`bluegreen finish` scales it to 0 no earlier than {_duration(hold)} after this "
        "commit."]
    changes.trailers = {"Bluegreen-Active": new, "Bluegreen-Previous": old,
                        "Bluegreen-Hold": _duration(hold)}
    _plan_flip(state, changes)
    return changes


def plan_rollback(config: ReleaseConfig, env: str) -> ChangeSet:
    """Flip back to the previous colour while it still runs."""
    state = load_state(config, env)
    back, bad = state.preview, state.active
    if state.size(back) <= 0:
        raise KustodianError(
            f"cannot roll back {env}: the previous colour {back} is already scaled to 0",
            hint=f"redeploy the previous version: kustodian bluegreen deploy --env {env} "
                 "--digest ... then switch")
    _require_running(state, back, "roll back")
    changes = step_changes(state, "bluegreen rollback", f"active {state.describe(bad)}",
                       f"active {state.describe(back)}")
    changes.slug = f"bluegreen-rollback-{back}"
    changes.subject = (f"chore(release): roll back {env} to {back} ({short_name(config.image)} "
                       f"{state.versions[back]})")
    changes.details = [f"Public traffic moves back from {bad} ({state.describe(bad)}) to "
                       f"{back} ({state.describe(back)}), which still runs; {bad} stays up "
                       "as the preview for investigation."]
    changes.trailers = {"Bluegreen-Active": back, "Bluegreen-Previous": bad}
    _plan_flip(state, changes)
    return changes


def last_switch(config: ReleaseConfig, overlay: str) -> tuple[str, int] | None:
    """(commit, commit time) of the last commit that changed the overlay's colours."""
    git = gitflow.repository(config.root, "finish measures the hold time from git history")
    return git.last_commit(f"{overlay}/{STATE_FILE}")


def plan_finish(config: ReleaseConfig, env: str, now: float | None = None) -> ChangeSet:
    """Scale the idle (previous) colour to 0 once the hold time since the switch passed."""
    state = load_state(config, env)
    old = state.preview
    if state.size(old) == 0:
        raise KustodianError(f"nothing to finish in {env}: {old} already runs 0 replicas")
    switch = last_switch(config, state.overlay)
    if switch is None:
        raise KustodianError(
            f"no switch of {env} in the git history of {state.overlay}/{STATE_FILE}",
            hint="finish retires the previous colour after a committed switch")
    sha, switched_at = switch
    hold = config.bluegreen_hold
    elapsed = int((time.time() if now is None else now) - switched_at)
    if elapsed < hold:
        raise KustodianError(
            f"the hold time after the switch has not passed: {_duration(elapsed)} of "
            f"{_duration(hold)} since {sha[:12]} ({_iso(switched_at)})",
            hint=f"wait {_duration(hold - elapsed)} (release.bluegreen_hold), or roll back")
    changes = step_changes(state, "bluegreen finish", state.describe(old), f"{old} x0")
    changes.slug = f"bluegreen-finish-{old}"
    changes.subject = (f"chore(release): finish the switch of {env}: scale {old} "
                       f"({state.versions[old]}) to 0")
    changes.details = [
        f"Held {_duration(elapsed)} since the switch {sha[:12]} at {_iso(switched_at)} "
        f"(hold {_duration(hold)}); {state.active} ({state.describe(state.active)}) serves.",
        f"{old} is retired; a rollback now needs a new deploy."]
    changes.trailers = {"Bluegreen-Active": state.active, "Bluegreen-Retired": old,
                        "Bluegreen-Switch": sha, "Bluegreen-Held": f"{elapsed}s",
                        "Bluegreen-Hold": f"{hold}s"}
    plan_ints(changes, [(state.replicas[old], 0)])
    return changes


def _duration(seconds: int) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes else []
    parts += [f"{secs}s"] if secs or not parts else []
    return "".join(parts)


def _iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
