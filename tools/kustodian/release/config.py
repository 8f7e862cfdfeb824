"""The release part of `.kustodian.yaml`: environments, their overlays, image names, steps."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from kustodian.errors import KustodianError

CONFIG_NAME = ".kustodian.yaml"


@dataclass(frozen=True)
class Overlay:
    path: str                       # repository-relative directory
    env: str
    canary: bool = False
    stable: str | None = None       # canary/blue-green overlays: the stable overlay they include
    bluegreen: bool = False


@dataclass
class ReleaseConfig:
    root: Path
    order: list[str]
    overlays: dict[str, Overlay]
    image: str
    canary_image: str
    canary_steps: list[int]
    require_digest: list[str] = field(default_factory=list)
    settings_file: str = "release/settings.yaml"
    deploy: dict[str, str] = field(default_factory=dict)     # env -> overlay Argo CD syncs
    bluegreen_hold: int = 1800                                # seconds, switch -> finish
    canary_soak: int = 600                                    # seconds per canary step
    canary_analysis: dict = field(default_factory=dict)       # `canary analyze` settings

    def check_env(self, env: str) -> str:
        if env not in self.order:
            raise KustodianError(
                f"unknown environment {env!r}; configured: {', '.join(self.order)}",
                file=CONFIG_NAME, hint="environments are listed under environments.order")
        return env

    def stable_overlay(self, env: str) -> Overlay:
        self.check_env(env)
        found = [o for o in self.overlays.values()
                 if o.env == env and not o.canary and not o.bluegreen]
        if len(found) != 1:
            raise KustodianError(
                f"environment {env!r} needs exactly one non-canary overlay, found {len(found)}",
                file=CONFIG_NAME, hint="map one overlay dir to it under `overlays:`")
        return found[0]

    def canary_overlay(self, env: str) -> Overlay:
        self.check_env(env)
        found = [o for o in self.overlays.values() if o.env == env and o.canary]
        if len(found) != 1:
            raise KustodianError(
                f"environment {env!r} has no canary overlay" if not found else
                f"environment {env!r} has {len(found)} canary overlays; expected one",
                file=CONFIG_NAME, hint="mark one overlay `{env: ..., canary: true}` in `overlays:`")
        return found[0]

    def bluegreen_overlay(self, env: str) -> Overlay:
        self.check_env(env)
        found = [o for o in self.overlays.values() if o.env == env and o.bluegreen]
        if len(found) != 1:
            raise KustodianError(
                f"environment {env!r} has no blue-green overlay" if not found else
                f"environment {env!r} has {len(found)} blue-green overlays; expected one",
                file=CONFIG_NAME,
                hint="mark one overlay `{env: ..., bluegreen: true}` in `overlays:`")
        return found[0]

    def deployed_overlay(self, env: str) -> str | None:
        """The overlay Argo CD deploys for `env` (environments.deploy), if configured."""
        self.check_env(env)
        return self.deploy.get(env)

    def env_overlays(self, env: str) -> list[str]:
        return [o.path for o in self.overlays.values() if o.env == env]

    def inside(self, path: Path, what: str) -> Path:
        """`path` resolved, or an error when it (or a symlink in it) leaves the repository."""
        resolved = Path(os.path.realpath(path))
        root = Path(os.path.realpath(self.root))
        if resolved != root and root not in resolved.parents:
            raise KustodianError(f"{what} {path} is outside the repository {root}",
                                 hint="kustodian only edits files inside the repository")
        return resolved

    def rel(self, path: Path) -> str:
        return Path(os.path.realpath(path)).relative_to(os.path.realpath(self.root)).as_posix()


def find_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding `.kustodian.yaml`."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    raise KustodianError(f"no {CONFIG_NAME} found in {start} or any parent directory",
                         hint="run kustodian inside the repository or pass --repo DIR")


def _list(value: object, key: str, kind: type) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool)
                                              for v in value):
        raise KustodianError(f"{key} must be a list of {kind.__name__}", file=CONFIG_NAME)
    return value


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)


def parse_duration(value: object, key: str) -> int:
    """`90s`, `10m`, `1h30m`, `2d` (or a number of seconds) -> seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _DURATION.fullmatch(value) if isinstance(value, str) and value else None
    if not match:
        raise KustodianError(f"{key}: {value!r} is not a duration", file=CONFIG_NAME,
                             hint="e.g. 90s, 10m, 1h30m, 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def load_config(root: Path) -> ReleaseConfig:
    """The release view of `.kustodian.yaml`, parsed by the shared `kustodian.config`."""
    from kustodian.config import load_config as load_repo_config

    if not (root / CONFIG_NAME).is_file():
        raise KustodianError(f"no {CONFIG_NAME} in {root}",
                             hint="releases need environments.order and the overlays mapping")
    repo = load_repo_config(root)
    data = {"environments": {"order": repo.env_order}, "overlays": repo.overlays,
            "release": repo.release}
    order = _list((data.get("environments") or {}).get("order"), "environments.order", str)
    if not order or len(set(order)) != len(order):
        raise KustodianError("environments.order must list each environment once",
                             file=CONFIG_NAME, hint="e.g. order: [dev, staging, prod]")
    overlays: dict[str, Overlay] = {}
    for rel, spec in (data.get("overlays") or {}).items():
        if not isinstance(spec, dict) or spec.get("env") not in order:
            raise KustodianError(f"overlay {rel!r} must name an env from environments.order",
                                 file=CONFIG_NAME)
        overlays[rel] = Overlay(path=str(rel).rstrip("/"), env=spec["env"],
                                canary=bool(spec.get("canary", False)), stable=spec.get("stable"),
                                bluegreen=bool(spec.get("bluegreen", False)))
        if overlays[rel].canary and overlays[rel].bluegreen:
            raise KustodianError(f"overlay {rel!r} cannot be both canary and bluegreen",
                                 file=CONFIG_NAME)
    release = data.get("release") or {}
    if not isinstance(release, dict):
        raise KustodianError("release must be a mapping", file=CONFIG_NAME)
    steps = _list(release.get("canary_steps", [10, 25, 50, 100]), "release.canary_steps", int)
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)):
        raise KustodianError("release.canary_steps must be increasing weights in 1..100",
                             file=CONFIG_NAME)
    require = release.get("require_digest")
    deploy = repo.env_deploy
    for env, path in deploy.items():
        if env not in order or str(path).rstrip("/") not in overlays or \
                overlays[str(path).rstrip("/")].env != env:
            raise KustodianError(f"environments.deploy.{env}: {path!r} must be an overlay of "
                                 f"{env} listed under overlays", file=CONFIG_NAME)
    analysis = release.get("canary_analysis") or {}
    if not isinstance(analysis, dict):
        raise KustodianError("release.canary_analysis must be a mapping", file=CONFIG_NAME)
    return ReleaseConfig(
        root=root, order=order, overlays=overlays,
        image=str(release.get("image") or ""), canary_image=str(release.get("canary_image") or ""),
        canary_steps=steps,
        require_digest=_list(require, "release.require_digest", str) if require is not None
        else [order[-1]],
        settings_file=str(release.get("settings_file") or "release/settings.yaml"),
        deploy={env: str(path).rstrip("/") for env, path in deploy.items()},
        bluegreen_hold=parse_duration(release.get("bluegreen_hold", "30m"),
                                      "release.bluegreen_hold"),
        canary_soak=parse_duration(release.get("canary_soak", "10m"), "release.canary_soak"),
        canary_analysis=dict(analysis))
