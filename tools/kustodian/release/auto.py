"""`kustodian canary auto`: one idempotent reconciliation step of a running canary.

Each run reads the canary state from git (the canary overlay: weight, replicas, image; the
time of the last commit that changed it), asks Prometheus (the `canary analyze` gate with the
settings of `release.canary_analysis`) and makes at most one move, as one commit that says why
with the numbers it saw:

    abort    the gate fails (error ratio or p95 ratio out of bounds): weight 0, canary
             replicas 0, canary image back to the stable one; at once, whatever the soak
    advance  the gate passes and the step has soaked `release.canary_soak`: the next weight of
             `release.canary_steps`
    promote  the same at the last step (100): stable takes the canary image
    wait     not enough data, or the soak time has not passed: no commit

Prometheus unreachable (or a query error) is an error: exit 2, nothing moves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

from kustodian.config import CONFIG_NAME
from kustodian.errors import KustodianError
from kustodian.release import gitflow
from kustodian.release.analyze import ABORT, NOT_ENOUGH_DATA, GateSettings, Verdict, analyze
from kustodian.release.bump import current_version, find_entries, plan_image
from kustodian.release.canary import (
    load_state,
    plan_abort,
    plan_promote_canary,
    plan_weight,
)
from kustodian.release.changes import ChangeSet
from kustodian.release.config import ReleaseConfig
from kustodian.release.reference import ImageVersion

SETTING_NAMES = {f.name for f in fields(GateSettings)}


@dataclass
class Decision:
    action: str                      # abort | advance | promote | wait | idle
    reason: str
    changes: ChangeSet | None = None


def gate_settings(config: ReleaseConfig, overrides: dict) -> GateSettings:
    """`release.canary_analysis` with command-line overrides (None = not given)."""
    merged = {**config.canary_analysis, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(merged) - SETTING_NAMES)
    if unknown:
        raise KustodianError(f"release.canary_analysis: unknown setting(s) {unknown}",
                             file=CONFIG_NAME, hint=f"known: {', '.join(sorted(SETTING_NAMES))}")
    if not merged.get("prometheus"):
        raise KustodianError("no Prometheus URL: set release.canary_analysis.prometheus or "
                             "pass --prometheus", file=CONFIG_NAME)
    try:
        settings = GateSettings(**merged)
        for name in ("max_error_ratio", "max_p95_ratio", "min_requests", "timeout"):
            setattr(settings, name, float(getattr(settings, name)))
    except (TypeError, ValueError) as exc:
        raise KustodianError(f"release.canary_analysis: {exc}", file=CONFIG_NAME) from None
    return settings


def last_change(config: ReleaseConfig, overlay: str) -> tuple[str, int]:
    """(commit, commit time) of the last commit that changed the canary overlay."""
    why = "canary auto measures the soak time from git commit times"
    found = gitflow.repository(config.root, why).last_commit(overlay)
    if found is None:
        raise KustodianError(f"{overlay} has no commit in this repository's history",
                             hint=f"{why}; commit the canary start first")
    return found


def evidence(verdict: Verdict) -> list[str]:
    """The numbers the gate saw, one line each, for the commit body."""
    s = verdict.settings
    lines = [f"Prometheus {s.get('prometheus')} over {s.get('window')}: {verdict.name} "
             f"({verdict.reason})."]
    for check in verdict.checks:
        value = "no data" if check.value is None else f"{check.value:.6g}"
        mark = {True: "ok", False: "FAIL", None: ""}[check.passed]
        lines.append(f"- {check.name} = {value} ({check.threshold}) {mark}".rstrip())
    return lines


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def decide(config: ReleaseConfig, env: str, overrides: dict,
           now: float | None = None) -> Decision:
    """What this run does, with the ChangeSet of its move (None when it waits)."""
    overlay = config.canary_overlay(env).path
    deployed = config.deployed_overlay(env)
    if deployed is not None and deployed != overlay:
        return Decision("idle", f"{env} deploys {deployed}, not its canary overlay {overlay}: "
                                "nothing to do")
    state = load_state(config, env)
    if not state.running:
        return Decision("idle", f"no canary is running in {env} (weight 0, replicas 0): "
                                "nothing to do")
    settings = gate_settings(config, overrides)
    verdict = analyze(settings)                       # unreachable Prometheus: exit 2
    numbers = evidence(verdict)
    weight = state.weight
    if verdict.code == ABORT:
        changes = plan_abort(config, env)
        stable = current_version(config, env, config.image)
        _restore_canary_image(config, state.overlay, stable, changes)
        changes.action = "canary auto abort"
        changes.slug = "canary-auto-abort"
        changes.subject = (f"chore(release): canary auto: abort in {env} at weight {weight} "
                           f"({verdict.reason})")
        changes.details = [f"The canary failed the gate at weight {weight}; all traffic back "
                           f"to stable {stable}, canary replicas 0, canary image back to "
                           f"{stable}.", *numbers]
        changes.trailers = {"Canary-Verdict": "abort", "Canary-Weight": str(weight)}
        return Decision("abort", changes.subject, changes)
    if verdict.code == NOT_ENOUGH_DATA:
        return Decision("wait", f"no move in {env} at weight {weight}: {verdict.reason}")
    sha, changed_at = last_change(config, overlay)
    soaked = (time.time() if now is None else now) - changed_at
    if soaked < config.canary_soak:
        return Decision("wait", f"no move in {env} at weight {weight}: soaked "
                                f"{_duration(soaked)} of {_duration(config.canary_soak)} since "
                                f"{sha[:12]} (release.canary_soak); the gate passes")
    soak_line = (f"Weight {weight} soaked {_duration(soaked)} since {sha[:12]} (minimum "
                 f"{_duration(config.canary_soak)}).")
    later = [step for step in config.canary_steps if step > weight]
    if later:
        changes = plan_weight(config, env, "next")
        changes.action = "canary auto advance"
        changes.subject = (f"chore(release): canary auto: weight {weight} -> {later[0]} in "
                           f"{env} (gate passes, soaked {_duration(soaked)})")
        action, verdict_name = "advance", "advance"
    else:
        changes = plan_promote_canary(config, env)
        changes.action = "canary auto promote"
        changes.subject = (f"chore(release): canary auto: promote in {env} at weight {weight} "
                           f"(gate passes, soaked {_duration(soaked)})")
        action, verdict_name = "promote", "promote"
    changes.details = [soak_line, *numbers]
    changes.trailers = {"Canary-Verdict": verdict_name, "Canary-Weight": str(weight),
                        "Canary-Soaked": f"{int(soaked)}s"}
    return Decision(action, changes.subject, changes)


def _restore_canary_image(config: ReleaseConfig, overlay: str, stable: ImageVersion,
                          changes: ChangeSet) -> None:
    _, entries = find_entries(config, overlay, config.canary_image)
    if entries and {entry.version for entry in entries} != {stable}:
        plan_image(config, overlay, config.canary_image, stable, changes,
                   new_name=config.image)
