"""From Argo CD objects found in the checked targets to the targets they deploy.

Applications and ApplicationSets are collected from every checked target: plain manifest
files and rendered kustomizations alike, so an app of apps is followed through its parent's
render (the Applications as Argo CD receives them, after kustomize's transformers). Each
Application source becomes a target (see `kustodian.argocd.sources`); the targets' renders
are searched for Applications again, until no new Application turns up. An Application is
identified by its name and its spec, so a cycle (A deploys B deploys A) ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kustodian.argocd.appset import GeneratorNotice, expand_applicationset
from kustodian.argocd.model import Application, application_env, parse_application
from kustodian.argocd.sources import Recipe, Unrendered, plan
from kustodian.errors import KustodianError

MAX_APPLICATIONS = 20_000


@dataclass
class Found:
    """An Argo CD object in a checked target: the document and where it was read."""

    doc: dict
    where: str                       # display path of the file or target
    file: str | None = None          # the repository file that declares it (for findings)
    line: int | None = None
    parent: str | None = None        # the Application whose render it came from


@dataclass
class AppTarget:
    """One source of one Application, planned: what to render and under which env."""

    app: Application
    recipe: Recipe
    env: str | None
    env_from: str
    display: str
    file: str | None
    line: int | None


@dataclass
class Resolver:
    """Collects Argo CD objects and plans the targets they deploy (cycle-safe)."""

    root: Path
    config: Any
    this_repo: frozenset[str]
    seen: set[tuple[str, str]] = field(default_factory=set)
    applications: list[Application] = field(default_factory=list)
    unrendered: list[tuple[Unrendered, Found]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    revisions: Any = None            # kustodian.git.Revisions: what generator revisions mean
    notices: list[tuple[GeneratorNotice, Found]] = field(default_factory=list)
    _displays: set[str] = field(default_factory=set)

    def plan(self, found: list[Found]) -> list[AppTarget]:
        """The targets of the Applications among `found` not planned before."""
        targets: list[AppTarget] = []
        for item in found:
            try:
                docs = [item.doc]
                if item.doc.get("kind") == "ApplicationSet":
                    notices: list[GeneratorNotice] = []
                    docs = expand_applicationset(item.doc, self.root, self.this_repo,
                                                 item.where, self.revisions, notices)
                    self.notices.extend((n, item) for n in notices)
                for doc in docs:
                    targets.extend(self._plan_one(doc, item))
            except KustodianError as exc:
                self.errors.append(str(exc))
        return targets

    def _plan_one(self, doc: dict, item: Found) -> list[AppTarget]:
        app = parse_application(doc, item.where, parent=item.parent)
        key = (app.name, json.dumps(doc.get("spec"), sort_keys=True, default=str))
        if key in self.seen:
            return []
        if len(self.seen) >= MAX_APPLICATIONS:
            raise KustodianError(f"more than {MAX_APPLICATIONS} Applications", file=item.where)
        self.seen.add(key)
        self.applications.append(app)
        recipes, skipped = plan(app, self.root, self.this_repo, str)
        self.unrendered.extend((u, item) for u in skipped)
        out = []
        for recipe in recipes:
            env, env_from = application_env(app, recipe.path, self.config)
            display = f"{recipe.path}@{app.name}"
            if display in self._displays:
                display = f"{display}#{recipe.index}"
            self._displays.add(display)
            out.append(AppTarget(app, recipe, env, env_from, display, item.file, item.line))
        return out
