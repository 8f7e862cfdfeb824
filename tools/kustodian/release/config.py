"""The release view of the repository configuration: the promotion order, the overlays of
each environment and the `release:` settings, as the release commands need them.

The file is read and checked by `kustodian.config` (one loader, one `find_root`); this view
adds what only releases require: an order of environments, every overlay of `overlays:`
naming an env of it, and `environments.deploy` naming overlays of their env.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kustodian.config import CONFIG_NAME, ReleaseSettings, RepoConfig
from kustodian.config import load_config as load_repo_config
from kustodian.errors import KustodianError


@dataclass(frozen=True)
class Overlay:
    path: str                       # repository-relative directory
    env: str
    canary: bool = False
    stable: str | None = None       # canary/blue-green overlays: the stable overlay they include
    bluegreen: bool = False


@dataclass(frozen=True)
class ReleaseConfig:
    """The repository configuration as the release commands read it."""

    repo: RepoConfig
    overlays: dict[str, Overlay]
    deploy: dict[str, str]           # env -> overlay Argo CD syncs

    @property
    def root(self) -> Path:
        return self.repo.root

    @property
    def order(self) -> tuple[str, ...]:
        return self.repo.env_order

    @property
    def settings(self) -> ReleaseSettings:
        return self.repo.release

    @property
    def image(self) -> str:
        return self.settings.image

    @property
    def canary_image(self) -> str:
        return self.settings.canary_image

    @property
    def canary_steps(self) -> tuple[int, ...]:
        return self.settings.canary_steps

    @property
    def canary_soak(self) -> int:
        return self.settings.canary_soak

    @property
    def bluegreen_hold(self) -> int:
        return self.settings.bluegreen_hold

    @property
    def canary_analysis(self) -> dict[str, Any]:
        return dict(self.settings.canary_analysis)

    @property
    def settings_file(self) -> str:
        return self.settings.settings_file

    @property
    def require_digest(self) -> tuple[str, ...]:
        """The envs whose pins need a digest (default: the last env of the order)."""
        found = self.settings.require_digest
        return found if found is not None else self.order[-1:]

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


def release_view(repo: RepoConfig) -> ReleaseConfig:
    """The release view of a loaded configuration, or the error saying what releases miss."""
    file = str(repo.path or CONFIG_NAME)
    if repo.path is None:
        raise KustodianError(f"no {CONFIG_NAME} in {repo.root}",
                             hint="releases need environments.order and the overlays mapping")
    order = repo.env_order
    if not order or len(set(order)) != len(order):
        raise KustodianError("environments.order must list each environment once",
                             file=file, hint="e.g. order: [dev, staging, prod]")
    overlays: dict[str, Overlay] = {}
    for rel, spec in repo.overlays.items():
        if spec.get("env") not in order:
            raise KustodianError(f"overlay {rel!r} must name an env from environments.order",
                                 file=file)
        overlays[rel] = Overlay(path=rel, env=spec["env"], canary=bool(spec.get("canary")),
                                stable=spec.get("stable"),
                                bluegreen=bool(spec.get("bluegreen")))
        if overlays[rel].canary and overlays[rel].bluegreen:
            raise KustodianError(f"overlay {rel!r} cannot be both canary and bluegreen",
                                 file=file)
    for env, path in repo.env_deploy.items():
        if env not in order or path not in overlays or overlays[path].env != env:
            raise KustodianError(f"environments.deploy.{env}: {path!r} must be an overlay of "
                                 f"{env} listed under overlays", file=file)
    return ReleaseConfig(repo, overlays, dict(repo.env_deploy))


def load_config(root: Path) -> ReleaseConfig:
    """The release view of `<root>/.kustodian.yaml`."""
    return release_view(load_repo_config(root))
