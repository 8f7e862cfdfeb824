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
from kustodian.argocd.sources import Recipe, Unrendered, of_this_repo, plan
from kustodian.errors import KustodianError
from kustodian.git import Revision

TARGET_REVISION = "argocd-target-revision"

MAX_APPLICATIONS = 20_000


@dataclass
class Found:
    """An Argo CD object in a checked target: the document and where it was read."""

    doc: dict
    where: str                       # display path of the file or target
    file: str | None = None          # the repository file that declares it (for findings)
    line: int | None = None
    parent: str | None = None        # the Application whose render it came from


@dataclass(frozen=True)
class RevisionNotice:
    """An Application source of this repository that deploys a branch or tag other than the
    revision under check (argocd-target-revision); its current commit is rendered too."""

    application: str
    index: int                       # position in the Application's sources
    message: str
    hint: str


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
    revision_notices: list[tuple[RevisionNotice, Found]] = field(default_factory=list)
    _displays: set[str] = field(default_factory=set)
    _labels: dict[tuple[str, int], str] = field(default_factory=dict)  # Revision.label

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
        unrendered, trees = self._check_revisions(app, item)
        recipes, skipped = plan(app, self.root, self.this_repo, str, frozenset(unrendered),
                                trees)
        self.unrendered.extend((u, item) for u in skipped)
        out = []
        for recipe in recipes:
            env, env_from = application_env(app, recipe.path, self.config)
            display = f"{recipe.path}@{app.name}"
            if recipe.commit:
                display += f" at {self._labels.get((app.name, recipe.index), '')}"
            if display in self._displays:
                display = f"{display}#{recipe.index}"
            self._displays.add(display)
            out.append(AppTarget(app, recipe, env, env_from, display, item.file, item.line))
        return out

    def _check_revisions(self, app: Application, item: Found
                         ) -> tuple[list[int], dict[int, tuple[Path, str] | None]]:
        """Each source of this repository at its `targetRevision`, as Argo CD deploys it:
        the revision under check renders the checked tree; another commit this clone holds
        (a pinned sha, a branch or tag, HEAD meaning another default branch) renders that
        commit's tree, and a branch or tag is also a RevisionNotice (whoever can move it
        decides what is deployed after the check); a revision this clone does not hold is
        an unrendered source. Returns the indexes of the unrendered sources and, for those
        at another commit, (its tree, the commit) - None when it cannot be written out."""
        unrendered: list[int] = []
        trees: dict[int, tuple[Path, str] | None] = {}
        for index, source in enumerate(app.sources):
            if not of_this_repo(source, self.this_repo):
                continue
            name = source.target_revision
            revision = (self.revisions.resolve(name) if self.revisions is not None
                        else Revision(name, "checked"))
            if revision.kind == "unresolved":
                self.unrendered.append((Unrendered(
                    app.name, index,
                    f"it deploys revision {name!r}, which the gate cannot read offline "
                    f"({revision.reason})",
                    "point targetRevision at HEAD or the branch this repository deploys "
                    "from, or fetch the ref into the clone the gate runs in "
                    "(actions/checkout with fetch-depth: 0)"), item))
                unrendered.append(index)
                trees[index] = None
                continue
            if revision.kind == "checked":
                continue
            if revision.kind == "after":        # PR mode's base side: not there before
                unrendered.append(index)
                trees[index] = None
                continue
            if revision.movable:
                self.revision_notices.append((RevisionNotice(
                    app.name, index,
                    f"Application {app.name} source {index} deploys revision {name!r} (a "
                    f"{revision.kind}, now at {revision.commit[:12]}), not the revision under "
                    f"check: whoever can move that {revision.kind} decides what Argo CD "
                    "deploys, after this check passed (its current commit is rendered and "
                    "checked too)",
                    "point targetRevision at HEAD or the branch this repository deploys "
                    "from, or pin the commit the gate checked"), item))
            try:
                trees[index] = (self.revisions.tree(revision.commit), revision.commit)
                self._labels[(app.name, index)] = revision.label
            except KustodianError as exc:
                self.errors.append(f"Application {app.name} source {index} (targetRevision "
                                   f"{name!r}): {exc}")
                unrendered.append(index)
                trees[index] = None
        return unrendered, trees
