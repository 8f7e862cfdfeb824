"""Pull-request mode of `kustodian check`: new / fixed / unchanged findings against a base ref.

Interface (called by `kustodian check --base-ref REF`):

    PrResult(report, fixed, affected, markdown)
    run_pr_check(repo_root, base_ref, overlays, run_check, *, prepare=None, env_of=None,
                 git=None) -> PrResult

`overlays` are the repository-relative kustomization dirs the check would cover at HEAD: a
list, or an OverlayScope (kustodian.discover.DiscoveryScope) that answers for the few dirs a
change reaches, so a one-file change in a monorepo never walks the whole tree.
`run_check(tree, overlays) -> Report` runs the ordinary check of those overlays in `tree`;
`prepare(tree, overlays)` is told each side's overlays first (the CLI starts their renders).
`always(changed, scope, head, base, git)` names targets checked on every change (those
holding Argo CD objects or that may, and standalone Helm charts: what they deploy is read
anywhere in the tree, see kustodian.argocd.prscope); with any, the whole base is extracted.
A target is a kustomization dir, a plain manifest file or a Helm chart dir (`_present`).

Cost on a one-file change (what a monorepo PR pays): the work-tree listing, two diffs, one
`cat-file` of the kustomization files' index blobs, a regex pass over their text per level
of the kustomization graph, the YAML parse of the few that may name a changed path, and
git reads of the affected overlays' inputs at the base; with `always`, one `git grep` of
the work tree and one search of the kustomization texts already read (kustodian.argocd.
prscope); then the checks of those overlays.

1. `base_ref` is resolved to a commit, and the base revision is the merge base of it and
   HEAD (the point the branch forked from), so changes that landed on the base branch since
   are not shown as reverts. An unknown ref is a KustodianError.
2. Changed paths: `git diff --name-only --no-renames <base>` (committed, staged and unstaged
   changes) plus untracked, non-ignored files.
3. Affected overlays: an overlay is affected when a changed path is one of its inputs - the
   files its kustomization reads, transitively: resources, bases, components, patches (all
   forms), configMap/secret generator files and envs, configurations, crds, openapi,
   replacements, generators/transformers/validators, helm values files and chart home.
   They are parsed at HEAD; that suffices, because an overlay whose HEAD inputs are all
   unchanged has the same kustomization files, so the same inputs, at the base. Any change to
   a repository-wide input (GLOBAL_INPUTS: the config, the Rego, the Dockerfile) affects
   every overlay. New overlays (kustomization added) and deleted ones (kustomization removed
   under the scope's `tops`, or listed by the base's .kustodian.yaml) are affected too. A
   changed file nobody reads affects nothing, and then no check runs at all.
4. The base revision of only what the affected overlays read (their inputs parsed from the
   base commit with `git cat-file --batch`, plus GLOBAL_INPUTS) is extracted with
   `Git.materialize` (the blobs as committed, no `.gitattributes` export rules) into a
   temp dir, removed afterwards.
   That tree has no `.git` and no tool caches: run_check must take its tools from the real
   repository, not from `tree`.
5. run_check(base_tree, affected present at the base) and run_check(repo_root, affected present
   at HEAD); each HEAD finding is "new" or "unchanged" by Finding.fingerprint() (counted, so
   a duplicated finding is new once), base findings missing at HEAD are returned as "fixed".
   A base revision that fails to check is reported in the summary, and all HEAD findings of
   it count as new (never the other way round: a PR can fix a broken base).
6. `markdown`: counts, tables of new and fixed findings (file:line), and a collapsible
   unified diff of the rendered manifests per environment and overlay, truncated to stay
   within a GitHub comment (65,536 characters).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.git import BaseRevision, Git, GitReader
from kustodian.model import Finding, Report
from kustodian.prmode.basetree import base_paths
from kustodian.prmode.classify import classify
from kustodian.prmode.scope import (
    GLOBAL_INPUTS,
    FsReader,
    InputCollector,
    Inputs,
    KustomizationTexts,
    ListedOverlays,
    OverlayScope,
    _affected,
    _kustomization_text,
    affected_overlays,
    affected_overlays_forward,
    deleted_overlays,
    included_dirs,
    reached_dirs,
    with_parents,
)
from kustodian.report.markdown import env_labels, render_markdown, rendered_diff

__all__ = [
    "GLOBAL_INPUTS",
    "BaseRevision",
    "FsReader",
    "Git",
    "GitReader",
    "InputCollector",
    "Inputs",
    "KustomizationTexts",
    "ListedOverlays",
    "OverlayScope",
    "PrResult",
    "_affected",
    "_kustomization_text",
    "affected_overlays",
    "affected_overlays_forward",
    "base_paths",
    "classify",
    "deleted_overlays", "included_dirs",
    "reached_dirs",
    "render_markdown",
    "rendered_diff",
    "run_pr_check",
    "with_parents",
]


# judge(base, changed, head report, base report) -> (the PR's findings about the gate, summary
# sections): see kustodian.trusted
Judge = Callable[[BaseRevision, set[str], Report, Report], tuple[list[Finding], list[str]]]


@dataclass
class PrResult:
    """The HEAD report with statuses, the fixed findings, the affected overlays, the summary."""

    report: Report
    fixed: list[Finding]
    affected: list[str]
    markdown: str


def run_pr_check(repo_root: Path, base_ref: str, overlays: list[str] | OverlayScope,
                 run_check: Callable[[Path, list[str]], Report], *,
                 prepare: Callable[[Path, list[str]], None] | None = None,
                 env_of: Callable[[str], str | None] | None = None,
                 git: Git | None = None,
                 always: Callable[..., list[str]] | None = None,
                 judge: Judge | None = None) -> PrResult:
    """Check only what the change can affect, at the base and at HEAD, and compare.

    `overlays`: the HEAD overlays as a list, or an OverlayScope that answers for the few
    affected dirs without listing the whole repository. `prepare(tree, overlays)`, when
    given, is called as soon as a side's overlays are known (before run_check on them), e.g.
    to start their renders early. `env_of(overlay)` labels the Markdown's env sections
    (default: read from the repository's .kustodian.yaml). `git`: a Git of `repo_root`
    made earlier (its work-tree listing may already be running, see Git.start_listing).
    `judge(base, changed, head_report, base_report) -> (findings, markdown sections)`: the
    PR's findings about the gate itself (kustodian.trusted), always new."""
    started = time.perf_counter()
    root = Path(repo_root)
    git = git or Git(root)
    base = git.resolve(base_ref)
    changed = git.changed_paths(base.commit)
    scope = ListedOverlays(root, overlays) if isinstance(overlays, list) else overlays
    with GitReader(git, base.commit) as base_reader:
        head_reader = FsReader(root)
        affected = _affected(scope, changed, head_reader, base_reader, git)
        # Targets checked whatever changed (the Argo CD objects: what they deploy is read
        # from anywhere in the tree, so their base is the whole base tree).
        extra = (always(changed, scope, head_reader, base_reader, git)
                 if always is not None and changed else [])
        affected = list(dict.fromkeys([*affected, *extra]))
        timings = {"pr_affected_s": round(time.perf_counter() - started, 4)}
        in_base = [o for o in affected if _present(base_reader, o)]
        in_head = [o for o in affected if _present(head_reader, o)]
        if prepare is not None and in_head:
            prepare(root, in_head)
        base_report, base_problem = Report(), None
        if in_base:
            tree = Path(tempfile.mkdtemp(prefix="kustodian-base-"))
            try:
                t0 = time.perf_counter()
                git.materialize(base.commit, [""] if extra else base_paths(in_base, base_reader),
                            tree)
                timings["pr_materialize_s"] = round(time.perf_counter() - t0, 4)
                t0 = time.perf_counter()
                try:
                    if prepare is not None:
                        prepare(tree, in_base)
                    base_report = run_check(tree, in_base)
                except KustodianError as exc:
                    base_problem = str(exc)
                timings["pr_base_check_s"] = round(time.perf_counter() - t0, 4)
            finally:
                shutil.rmtree(tree, ignore_errors=True)
    t0 = time.perf_counter()
    head_report = run_check(root, in_head) if in_head else Report()
    timings["pr_head_check_s"] = round(time.perf_counter() - t0, 4)
    report, fixed = classify(head_report, base_report)
    report.timings.update(timings)
    sections: list[str] = []
    if judge is not None:
        own, sections = judge(base, changed, head_report, base_report)
        report.findings.extend(replace(f, status="new") for f in own)
    envs = ({o: env_of(o) or "" for o in affected} if env_of is not None
            else env_labels(root, affected))
    markdown = render_markdown(base, changed, affected, report, fixed, base_report, envs,
                               base_problem, sections)
    return PrResult(report=report, fixed=fixed, affected=affected, markdown=markdown)


def _present(reader: FsReader | GitReader, target: str) -> bool:
    """Whether a target is in a revision: a kustomization dir, a file, or a Helm chart."""
    return bool(reader.kustomization(target) or reader.is_file(target)
                or reader.is_file(f"{target}/Chart.yaml" if target != "." else "Chart.yaml"))
