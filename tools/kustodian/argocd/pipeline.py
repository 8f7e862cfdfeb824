"""The check's second half for Argo CD: the targets the checked Applications deploy.

`follow_applications` runs after the discovered targets are checked (so the Argo CD objects
in them, plain or rendered, are known): it plans each Application's sources, reuses a
target already checked when the source renders to exactly it (a kustomize dir without
Application-level options, under the same env), and renders, loads and evaluates the
others; Applications inside those renders (app of apps) are followed in the next round.
Helm charts no Application renders are then rendered with their default values, and the
Applications their templates generate followed in turn.
Sources the gate cannot render offline become `argocd-source-unrendered` findings.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kustodian.argocd.appset import GeneratorNotice
from kustodian.argocd.model import repo_urls
from kustodian.argocd.resolve import AppTarget, Found, Resolver, RevisionNotice
from kustodian.argocd.sources import Unrendered
from kustodian.discover import Target
from kustodian.errors import KustodianError
from kustodian.model import Finding

if TYPE_CHECKING:
    from kustodian.kustomize.build import Rendered
    from kustodian.pipeline import Pipeline


class AppSourceMap:
    """Locates findings of a render the repository's files cannot explain line by line
    (helm output, kustomize with Application-level options): the repository files when the
    plain source map finds them, else the Application that asked for the render."""

    def __init__(self, inner: Any, file: str | None, line: int | None) -> None:
        self.inner, self.file, self.line = inner, file, line

    def locate(self, r: Any, path: tuple) -> tuple[str | None, int | None]:
        if self.inner is not None:
            try:
                file, line = self.inner.locate(r, path)
            except (KustodianError, OSError, RecursionError):
                file, line = None, None
            if file is not None:
                return file, line
        return self.file, self.line

    def declaration(self, r: Any, path: tuple) -> tuple[str | None, int | None, Any]:
        """Where a field is set (see SourceMap.declaration); the Application when unknown."""
        if self.inner is not None:
            try:
                file, line, setter = self.inner.declaration(r, path)
            except (KustodianError, OSError, RecursionError):
                file, line, setter = None, None, None
            if file is not None:
                return file, line, setter
        return self.file, self.line, None

    def __getattr__(self, name: str) -> Any:
        if name == "inner" or self.__dict__.get("inner") is None:
            raise AttributeError(name)
        return getattr(self.inner, name)


def _found_of(pipe: Pipeline, group: Any, r: Any) -> Found:
    target = group.target
    try:
        file, line = group.sourcemap.locate(r, ())
    except (KustodianError, OSError, RecursionError):
        file, line = None, None
    return Found(doc=r.obj, where=pipe._display(file) or target.display, file=file, line=line,
                 parent=target.application)


def follow_applications(pipe: Pipeline, targets: list[Target]) -> float:
    """Check every target the Applications seen so far deploy (recursively); the render
    CPU seconds spent."""
    this_repo = pipe.options.this_repo
    if this_repo is None:
        this_repo = repo_urls(pipe.root, pipe.config.repo_urls)
    revisions = pipe.options.revisions
    if revisions is None:
        from kustodian.git import Revisions

        # a full check: the checkout is the revision, and the branch Argo CD deploys from
        # (deployBranch) is what this tree becomes once merged; the trees of other commits
        # it writes out are removed when the pipeline's run ends
        revisions = pipe._own_revisions = Revisions(
            pipe.root, [name for b in pipe.config.deploy_branches
                        for name in (b, f"refs/heads/{b}")])
    resolver = Resolver(pipe.root, pipe.config, this_repo, revisions=revisions)
    checked = {("", t.display, t.env): t for t in targets if t.kind == "overlay"}
    seconds = 0.0
    rounds = 0
    charts_done = False
    while pipe._found or not charts_done:
        if not pipe._found:
            # the charts no Application renders, once the Applications are all followed:
            # the Argo CD objects their templates generate are followed in turn
            seconds += _standalone_charts(pipe, targets)
            charts_done = True
            continue
        rounds += 1
        found = [_found_of(pipe, g, r) for g, r in pipe._found]
        pipe._found = []
        planned = resolver.plan(found)
        jobs: list[tuple[Target, AppTarget]] = []
        for at in planned:
            recipe = at.recipe
            same = checked.get((recipe.root, recipe.path, at.env))
            if recipe.tool == "kustomize" and not recipe.edits and same is not None:
                pipe._apps_of.setdefault(same.display, []).append(at.app.name)
                continue
            tree = tree_of(pipe, recipe)
            target = Target("overlay", tree / recipe.path, at.display, at.env,
                            files=[tree / f for f in recipe.files],
                            application=at.app.name, recipe=recipe)
            pipe._app_targets.append(target)
            pipe._apps_of.setdefault(at.display, []).append(at.app.name)
            if at.env is None:
                pipe.report.errors.append(str(KustodianError(
                    f"Application {at.app.name} ({recipe.path}): no environment for its "
                    "target: prod-only rules would not run", file=found_where(at),
                    hint=f"map it in .kustodian.yaml `applications: {{{at.app.name}: {{env: "
                         "prod}}`, label it kustodian.io/env, or name its dir or destination "
                         "namespace after the env")))
            if recipe.tool == "directory":
                pipe._guard(at.display, lambda t=target, a=at: _check_files(pipe, t, a))
            else:
                jobs.append((target, at))
            if recipe.tool == "kustomize" and not recipe.edits:
                checked[(recipe.root, recipe.path, at.env)] = target
        seconds += _render_jobs(pipe, jobs)
        _unrendered_findings(pipe, resolver)
    pipe.report.errors.extend(resolver.errors)
    pipe.report.timings["argocd_rounds"] = rounds
    return seconds


def tree_of(pipe: Pipeline, recipe: Any) -> Path:
    """The tree a recipe renders from: the one under check, or another commit's written
    out (its files are then shown as `path@<short sha>`)."""
    if not recipe.root:
        return pipe.root
    pipe.show_tree(recipe.root, recipe.commit)
    return Path(recipe.root)


def _standalone_charts(pipe: Pipeline, targets: list[Target]) -> float:
    """Helm chart dirs no Application renders: rendered with their default values (the
    chart as `helm install` would deploy it), under the env of their dir."""
    from kustodian.argocd.sources import Recipe, chart_problem

    rendered = {t.path for t in pipe._app_targets if t.recipe is not None
                and t.recipe.tool == "helm"}
    jobs = []
    for t in targets:
        if t.kind != "chart" or t.path in rendered:
            continue
        recipe = Recipe("helm", t.display, "", 0, "{}", release=t.path.name)
        problem = chart_problem(t.path, t.display)
        if problem is not None:
            _report_unrendered(pipe, Unrendered("", 0, *problem), t.display)
            continue
        app = _NoApplication(t.display)
        jobs.append((replace(t, kind="overlay", recipe=recipe),
                     AppTarget(app, recipe, t.env, "", t.display, None, None)))
    return _render_jobs(pipe, jobs)


class _NoApplication:
    """Stands for the Application of a chart no Application renders."""

    def __init__(self, display: str) -> None:
        self.name = ""
        self.namespace = None
        self.where = display


def found_where(at: AppTarget) -> str:
    return at.app.where


def _check_files(pipe: Pipeline, target: Target, at: AppTarget) -> None:
    group = pipe._load_files(target, tree_of(pipe, at.recipe))
    group.rendered_text = "".join(
        Path(f).read_text(encoding="utf-8", errors="replace") + "\n---\n"
        for f in target.files)
    _check_app_group(pipe, group, at)


def _check_app_group(pipe: Pipeline, group: Any, at: AppTarget) -> None:
    before = len(pipe.report.findings)
    pipe._check(group)
    file = pipe._display(at.file) if at.file else None
    pipe.report.findings[before:] = [
        replace(f, application=at.app.name or None,
                file=f.file or file, line=f.line if f.file else (f.line or at.line))
        for f in pipe.report.findings[before:]]


def _render_one(pipe: Pipeline, target: Target, at: AppTarget) -> Rendered:
    from kustodian.argocd.build import find_helm, render_helm, render_kustomize
    from kustodian.kustomize.build import Rendered, find_kustomize

    tree = tree_of(pipe, at.recipe)
    try:
        if at.recipe.tool == "helm":
            return render_helm(at.recipe, tree, find_helm(pipe.root), target.display)
        kustomize = pipe.options.kustomize or find_kustomize(pipe.root)
        return render_kustomize(at.recipe, tree, kustomize, target.display,
                                at.app.namespace)
    except KustodianError as exc:
        return Rendered(target.path, target.display, error=exc)


def _render_jobs(pipe: Pipeline, jobs: list[tuple[Target, AppTarget]]) -> float:
    if not jobs:
        return 0.0
    seconds = 0.0
    workers = max(1, min(pipe.options.workers or os.cpu_count() or 2, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argocd-render") as pool:
        results = list(pool.map(lambda job: _render_one(pipe, *job), jobs))
    for (target, at), rendered in zip(jobs, results, strict=True):
        seconds += rendered.seconds
        if rendered.error is not None:
            pipe.report.errors.append(f"Application {at.app.name}: {rendered.error}"
                                      if at.app.name else str(rendered.error))
            continue
        pipe._guard(target.display, lambda t=target, r=rendered, a=at: _load_and_check(
            pipe, t, r, a))
    return seconds


def _load_and_check(pipe: Pipeline, target: Target, rendered: Rendered, at: AppTarget
                    ) -> None:
    group = pipe._load_rendered(target, rendered)
    if at.recipe.tool == "helm" or at.recipe.edits:
        inner = group.sourcemap if at.recipe.tool != "helm" else None
        if inner is not None:
            inner._fallback = None    # its annotated re-render would not see the edits
        group.sourcemap = AppSourceMap(inner, at.file, at.line)
    _check_app_group(pipe, group, at)


def _unrendered_findings(pipe: Pipeline, resolver: Resolver) -> None:
    for unrendered, item in resolver.unrendered:
        where = pipe._display(item.file) if item.file else item.where
        _report_unrendered(pipe, unrendered, where, item.line)
    resolver.unrendered.clear()
    for notice, item in resolver.notices:
        where = pipe._display(item.file) if item.file else item.where
        _report_generator(pipe, notice, where, item.line)
    resolver.notices.clear()
    for revision, item in resolver.revision_notices:
        where = pipe._display(item.file) if item.file else item.where
        _report_target_revision(pipe, revision, where, item.line)
    resolver.revision_notices.clear()


def _append(pipe: Pipeline, rule: Any, **fields: Any) -> None:
    """Append a finding of one of the pipeline's own rules, as the repo profile tunes it
    (disabled: nothing; a severity override applies)."""
    profile = pipe.config.profile(None)
    if rule.id in profile.disable:
        return
    pipe.report.findings.append(Finding(
        rule=rule.id, severity=profile.severity.get(rule.id, rule.severity),
        category=rule.category, title=rule.title, **fields))


def _report_target_revision(pipe: Pipeline, notice: RevisionNotice, where: str,
                            line: int | None) -> None:
    """An `argocd-target-revision` finding."""
    from kustodian.rules.meta import ARGOCD_TARGET_REVISION

    _append(pipe, ARGOCD_TARGET_REVISION, message=notice.message, remediation=notice.hint,
            kind="Application", name=notice.application, file=where, line=line,
            application=notice.application,
            field_path=("spec", "sources", notice.index, "targetRevision"))


def _report_generator(pipe: Pipeline, notice: GeneratorNotice, where: str,
                      line: int | None) -> None:
    """A finding about an ApplicationSet generator (argocd-generator-revision, or
    argocd-source-unrendered when it cannot be evaluated offline)."""
    from kustodian.rules.meta import ARGOCD_GENERATOR_REVISION, ARGOCD_SOURCE_UNRENDERED

    rule = {r.id: r for r in (ARGOCD_GENERATOR_REVISION, ARGOCD_SOURCE_UNRENDERED)}[
        notice.rule]
    _append(pipe, rule, message=notice.message, remediation=notice.hint,
            kind="ApplicationSet", name=notice.applicationset, file=where, line=line,
            field_path=("spec", "generators", notice.generator))


def _report_unrendered(pipe: Pipeline, unrendered: Unrendered, where: str,
                       line: int | None = None) -> None:
    """An `argocd-source-unrendered` finding."""
    from kustodian.rules.meta import ARGOCD_SOURCE_UNRENDERED

    what = (f"Application {unrendered.application} source {unrendered.index}"
            if unrendered.application else f"chart {where}")
    _append(pipe, ARGOCD_SOURCE_UNRENDERED,
            message=f"{what}: {unrendered.reason}; the gate cannot check what it deploys",
            remediation=unrendered.hint, kind="Application" if unrendered.application else None,
            name=unrendered.application or None, file=where, line=line,
            application=unrendered.application or None,
            field_path=("spec", "sources", unrendered.index) if unrendered.application
            else None)
