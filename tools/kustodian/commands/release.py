"""`kustodian bump`, `promote` and `canary` (owned by the release work)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kustodian.config import find_root
from kustodian.errors import KustodianError
from kustodian.release.config import ReleaseConfig, load_config
from kustodian.release.reference import ImageVersion, validate_name

if TYPE_CHECKING:
    from kustodian.release.execute import Options


def _release_options(func: Callable) -> Callable:
    """Options every editing command shares: where, dry run, commit/PR/push, policy gate."""
    options = [
        click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Repository root (default: the nearest dir with .kustodian.yaml)."),
        click.option("--dry-run", is_flag=True, help="Print the diff; write nothing."),
        click.option("--commit", is_flag=True,
                     help="Create a release branch and one commit (after the policy gate)."),
        click.option("--allow-dirty", is_flag=True,
                     help="Commit even if other tracked files have changes (they stay out)."),
        click.option("--pr-body", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Write a Markdown PR body (what moves, rendered diff, policy)."),
        click.option("--push", is_flag=True,
                     help="Push the commit to --remote/--target, rebasing and retrying."),
        click.option("--remote", default="origin", show_default=True),
        click.option("--target", default=None,
                     help="Branch to push to (default: the branch you were on)."),
        click.option("--no-check", "no_check", is_flag=True,
                     help="Skip the `kustodian check` gate before committing."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _config(repo: Path | None) -> ReleaseConfig:
    return load_config(find_root(repo or Path.cwd(), require_config=True))


def _opts(kw: dict) -> Options:
    from kustodian.release.execute import Options

    return Options(dry_run=kw["dry_run"], commit=kw["commit"], allow_dirty=kw["allow_dirty"],
                   pr_body=kw["pr_body"], push=kw["push"], remote=kw["remote"],
                   target=kw["target"], check=not kw["no_check"])


def _run(kw: dict, plan: Callable[[ReleaseConfig], object], **gate) -> None:
    """Plan and carry out one release change under the repository's release lock (a dry run
    writes nothing and takes no lock). The plan reads the files the change edits, so the lock
    covers planning too: two commands never plan from the same state and both commit.
    Imported lazily: git/kustomize machinery is not needed for `kustodian check`."""
    from kustodian.release.execute import execute
    from kustodian.release.gitflow import release_lock

    config = _config(kw["repo"])
    options = _opts(kw)
    for key, value in gate.items():
        setattr(options, key, value)
    if options.dry_run:
        changes = plan(config)
        if changes is not None:
            execute(config, changes, options, click.echo)
        return
    with release_lock(config.root):
        changes = plan(config)
        if changes is not None:          # None: the plan decided not to move (canary auto)
            execute(config, changes, options, click.echo)


def _version(tag: str | None, digest: str | None) -> ImageVersion:
    if tag is None and digest is None:
        raise KustodianError("give --tag, --digest, or both",
                             hint="e.g. --tag 1.4.2 --digest sha256:<64 hex>")
    return ImageVersion(tag=tag, digest=digest)


@click.command()
@click.option("--env", "env", required=True, help="Environment (from environments.order).")
@click.option("--image", default=None, help="Image name (default: release.image).")
@click.option("--tag", default=None, help="Image tag, e.g. 1.4.2.")
@click.option("--digest", default=None, help="Image digest, sha256:<64 hex>.")
@_release_options
def bump(env: str, image: str | None, tag: str | None, digest: str | None, **kw) -> None:
    """Pin an image in one environment, editing only the changed bytes."""
    from kustodian.release.bump import plan_bump

    version = _version(tag, digest)
    _run(kw, lambda config: plan_bump(config, env, validate_name(image or config.image),
                                      version))


@click.command()
@click.option("--from", "source", required=True, help="Environment that verified the release.")
@click.option("--to", "target_env", required=True, help="Environment to promote to.")
@click.option("--image", default=None, help="Image name (default: release.image).")
@click.option("--force", is_flag=True, help="Allow skipping a stage (or going backwards).")
@_release_options
def promote(source: str, target_env: str, image: str | None, force: bool, **kw) -> None:
    """Copy the verified image pin (and settings file) to the next environment."""
    from kustodian.release.bump import plan_promote

    _run(kw, lambda config: plan_promote(config, source, target_env,
                                         validate_name(image or config.image), force))


@click.group()
def canary() -> None:
    """Canary releases: start, step the weight, promote or abort, and the Prometheus gate."""


@canary.command("start")
@click.option("--env", "env", required=True)
@click.option("--digest", required=True, help="Canary image digest, sha256:<64 hex>.")
@click.option("--tag", default=None, help="Canary image tag (written as newTag: TAG@DIGEST).")
@click.option("--weight", type=click.IntRange(0, 100), default=None,
              help="First canary weight (default: the first of release.canary_steps).")
@_release_options
def canary_start(env: str, digest: str, tag: str | None, weight: int | None, **kw) -> None:
    """Deploy the canary image with its first traffic weight (canary replicas 1)."""
    from kustodian.release.canary import plan_start

    version = ImageVersion(tag=tag, digest=digest)
    _run(kw, lambda config: plan_start(config, env, version, weight))


@canary.command("weight")
@click.argument("weight")
@click.option("--env", "env", required=True)
@_release_options
def canary_weight(weight: str, env: str, **kw) -> None:
    """Set the canary weight: a number 0..100, or `next` (the next of release.canary_steps)."""
    from kustodian.release.canary import plan_weight

    if weight != "next" and not (weight.isdigit() and 0 <= int(weight) <= 100):
        raise click.BadParameter(f"{weight!r} is not a weight 0..100 or `next`",
                                 param_hint="WEIGHT")
    _run(kw, lambda config: plan_weight(config, env, weight))


@canary.command("promote")
@click.option("--env", "env", required=True)
@_release_options
def canary_promote(env: str, **kw) -> None:
    """Stable takes the canary image; canary weight 0 and replicas 0."""
    from kustodian.release.canary import plan_promote_canary

    _run(kw, lambda config: plan_promote_canary(config, env))


@canary.command("abort")
@click.option("--env", "env", required=True)
@_release_options
def canary_abort(env: str, **kw) -> None:
    """Send all traffic back to stable at once (weight 0, canary replicas 0)."""
    from kustodian.release.canary import plan_abort

    _run(kw, lambda config: plan_abort(config, env))


@canary.command("auto")
@click.option("--env", "env", required=True)
@click.option("--prometheus", default=None,
              help="Prometheus base URL (default: release.canary_analysis.prometheus).")
@click.option("--window", default=None, help="PromQL range (default: from the repo config).")
@_release_options
def canary_auto(env: str, prometheus: str | None, window: str | None, **kw) -> None:
    """One reconciliation step: abort, advance, promote or wait, from git and Prometheus.

    Idempotent: run it on a schedule. Exit 0 whether it moved or waited (it says which and
    why); 2 when Prometheus cannot be asked or the repository is not as expected.
    """
    from kustodian.release.auto import decide

    def plan(config: ReleaseConfig):
        decision = decide(config, env, {"prometheus": prometheus, "window": window})
        click.echo(f"canary auto: {decision.action}: {decision.reason}")
        if decision.changes is not None:
            for line in decision.changes.details:
                click.echo(f"  {line}")
        return decision.changes

    _run(kw, plan)


@canary.command("analyze")
@click.option("--prometheus", required=True, help="Prometheus base URL.")
@click.option("--window", default="5m", show_default=True, help="PromQL range, e.g. 30s, 5m.")
@click.option("--max-error-ratio", type=float, default=0.01, show_default=True,
              help="Abort when the canary's 5xx ratio is above this.")
@click.option("--max-p95-ratio", type=float, default=1.2, show_default=True,
              help="Abort when canary p95 / stable p95 is above this.")
@click.option("--min-requests", type=float, default=100, show_default=True,
              help="Exit 3 (not enough data) below this many requests per track.")
@click.option("--selector", default="", help='Extra label matchers, e.g. \'job="agent"\'.')
@click.option("--track-label", default="track", show_default=True)
@click.option("--exclude-routes", default="/metrics|/healthz|/readyz", show_default=True,
              help="Route regex left out of the comparison (probes, scrapes); '' keeps all.")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds per Prometheus query.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def canary_analyze(fmt: str, **kw) -> None:
    """Compare canary with stable in Prometheus: exit 0 promote, 1 abort, 3 not enough data."""
    from kustodian.release.analyze import GateSettings, analyze, format_text

    verdict = analyze(GateSettings(**kw))
    if fmt == "json":
        click.echo(json.dumps(verdict.to_json(), indent=2))
    else:
        click.echo(format_text(verdict))
    sys.exit(verdict.code)


@click.group()
def bluegreen() -> None:
    """Blue-green releases: deploy the idle colour, switch, roll back, finish."""


def _gated(kw: dict, step: str) -> dict:
    """switch and rollback move all traffic at once: the policy gate always runs."""
    from kustodian.release.bluegreen import GATE_RULES

    if kw["no_check"]:
        raise KustodianError(f"bluegreen {step} always runs the policy gate; --no-check is "
                             "refused", hint="fix the findings the gate reports instead")
    return {"gate_always": True, "must_pass": GATE_RULES}


@bluegreen.command("deploy")
@click.option("--env", "env", required=True)
@click.option("--tag", default=None, help="Image tag, e.g. 1.4.2.")
@click.option("--digest", default=None, help="Image digest, sha256:<64 hex>.")
@_release_options
def bluegreen_deploy(env: str, tag: str | None, digest: str | None, **kw) -> None:
    """Give the idle colour the image and the active colour's size (reachable as preview)."""
    from kustodian.release.bluegreen import plan_deploy

    version = _version(tag, digest)
    _run(kw, lambda config: plan_deploy(config, env, version))


@bluegreen.command("switch")
@click.option("--env", "env", required=True)
@_release_options
def bluegreen_switch(env: str, **kw) -> None:
    """Send all public traffic to the idle colour (refused unless the policy gate passes)."""
    from kustodian.release.bluegreen import plan_switch

    _run(kw, lambda config: plan_switch(config, env), **_gated(kw, "switch"))


@bluegreen.command("rollback")
@click.option("--env", "env", required=True)
@_release_options
def bluegreen_rollback(env: str, **kw) -> None:
    """Switch back to the previous colour while it still runs."""
    from kustodian.release.bluegreen import plan_rollback

    _run(kw, lambda config: plan_rollback(config, env), **_gated(kw, "rollback"))


@bluegreen.command("finish")
@click.option("--env", "env", required=True)
@_release_options
def bluegreen_finish(env: str, **kw) -> None:
    """Scale the previous colour to 0 once release.bluegreen_hold has passed since the switch."""
    from kustodian.release.bluegreen import plan_finish

    _run(kw, lambda config: plan_finish(config, env))


COMMANDS = [bump, promote, canary, bluegreen]
