"""`kustodian check` (the policy gate) and `kustodian docs` (the rule catalogue)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kustodian.atomicfile import write_atomic
from kustodian.errors import KustodianError
from kustodian.model import Severity

if TYPE_CHECKING:     # imported lazily at run time (start-up cost)
    from kustodian.config import RepoConfig
    from kustodian.git import Git
    from kustodian.model import Report
    from kustodian.pipeline import CheckOptions

FAIL_ON_DEFAULT = "low"
_SEVERITIES = [str(s) for s in Severity]


def _write_output(path: str, text: str) -> None:
    """An output file, written whole or not at all; a KustodianError when it cannot be."""
    target = Path(path)
    if target.parent and not target.parent.is_dir():
        raise KustodianError("output directory does not exist", file=str(target.parent))
    try:
        write_atomic(target, text.encode("utf-8"))
    except OSError as exc:
        raise KustodianError(f"cannot write output: {exc.strerror}", file=path) from None


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--env", "env", metavar="ENV",
              help="Environment of the PATHs (overrides the mapping); without PATH, report "
                   "only the targets deploying to that environment (Applications included).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "junit"]),
              default="text", show_default=True, help="Report format.")
@click.option("--fail-on", type=click.Choice(_SEVERITIES, case_sensitive=False),
              default=FAIL_ON_DEFAULT, show_default=True,
              help="Exit 1 when a finding has at least this severity.")
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE (atomically).")
@click.option("--no-conftest", is_flag=True, help="Skip the Rego policies (conftest).")
@click.option("--no-schema", is_flag=True, help="Skip schema validation.")
@click.option("--apiserver", is_flag=True,
              help="Also server-side apply every target (dry run) to a throw-away "
                   "kube-apiserver; PR mode applies the base first (docs/cluster.md).")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Repository root (default: nearest dir with .kustodian.yaml or .git).")
@click.option("--base-ref", metavar="REF",
              help="Pull-request mode: compare with REF's merge base (new/fixed/unchanged).")
@click.option("--new-only", is_flag=True, help="PR mode: only new findings fail the gate.")
@click.option("--summary", "summary_file", metavar="FILE",
              help="PR mode: write the Markdown summary (for a PR comment) to FILE.")
def check(paths: tuple[str, ...], env: str | None, fmt: str, fail_on: str, output: str | None,
          no_conftest: bool, no_schema: bool, apiserver: bool, root: str | None,
          base_ref: str | None,
          new_only: bool, summary_file: str | None) -> None:
    """Render, validate and evaluate overlays (or manifest files) and report findings.

    PATH: kustomization directories, plain manifest files or directories. No PATH: every
    kustomization root and plain manifest file of the repository (see docs/targets.md).

    Exit status: 0 clean, 1 findings at or above --fail-on, 2 usage/render/parse error.
    """
    from kustodian.config import find_root, load_config
    from kustodian.pipeline import CheckOptions, run_check
    from kustodian.report import render_report

    if (new_only or summary_file) and not base_ref:
        raise click.UsageError("--new-only and --summary need --base-ref")
    repo = Path(root).resolve() if root else find_root(Path.cwd())
    git = _start_git(repo) if base_ref else None   # lists the work tree while config loads
    # PR mode obeys the base revision's configuration, never the pull request's own
    config = load_config(repo) if not base_ref else None
    threshold = Severity.parse(fail_on)
    options = CheckOptions(env=env, schema=not no_schema, conftest=not no_conftest)
    if apiserver:
        from kustodian.apiserver import ApiserverCheck

        options.apiserver = ApiserverCheck()
    try:
        if base_ref:
            report, markdown = _pr_mode(repo, base_ref, list(paths), config, env, options, git)
            if summary_file:
                _write_output(summary_file, markdown)
        else:
            report = run_check(repo, list(paths), options, config)
    finally:
        if options.apiserver is not None:
            options.apiserver.close()
    # Styled with click; click.echo drops the styles when stdout is not a terminal.
    color = fmt == "text" and output is None and not os.environ.get("NO_COLOR")
    text = render_report(report, fmt, fail_on=threshold, color=color)
    if output:
        _write_output(output, text)
    else:
        click.echo(text, nl=False)
    for err in report.errors:
        click.echo(f"kustodian: error: {err}", err=True)
    counted = [f for f in report.findings if not new_only or f.status == "new"]
    if report.errors:
        sys.exit(2)
    sys.exit(1 if any(f.severity >= threshold for f in counted) else 0)


def _start_git(repo: Path) -> Git:
    """PR mode's git access, with the work-tree listing already running."""
    try:
        from kustodian.git import Git
    except ImportError:
        raise KustodianError("pull-request mode is not available in this build") from None
    git = Git(repo)
    git.start_listing()
    return git


def _pr_mode(repo: Path, base_ref: str, paths: list[str], config: RepoConfig | None,
             env: str | None, options: CheckOptions, git: Git | None) -> tuple[Report, str]:
    """Pull-request mode: the overlays a change affects, checked at the base and at HEAD.

    The trusted side (kustodian.trusted): the configuration and the policies come from the
    base revision for both checks; the PR's changes to them are findings. Discovery is asked
    only about the dirs the change reaches (DiscoveryScope), and each side's renders start
    as soon as its overlays are known (render.prefetch)."""
    import shutil
    import tempfile
    from dataclasses import replace

    from kustodian.config import load_config
    from kustodian.trusted import judge, materialize

    git = git or _start_git(repo)
    trusted_dir = Path(tempfile.mkdtemp(prefix="kustodian-trusted-"))
    try:
        materialize(git, git.resolve(base_ref).commit, trusted_dir)
        config = replace(load_config(trusted_dir), root=repo)
        options.policy_dir = trusted_dir / "policies"
        return _pr_check(repo, base_ref, paths, config, env, options, git,
                         lambda *args: judge(git, *args))
    finally:
        shutil.rmtree(trusted_dir, ignore_errors=True)


def _pr_check(repo: Path, base_ref: str, paths: list[str], config: RepoConfig,
              env: str | None, options: CheckOptions, git: Git, judge) -> tuple[Report, str]:
    """`_pr_mode` with the trusted config and policies in place."""
    from dataclasses import replace

    from kustodian.config import canonical_env
    from kustodian.discover import DiscoveryScope, Target, is_manifest, only_env
    from kustodian.kustomize.build import discard_prefetched, find_kustomize, prefetch
    from kustodian.kustomize.cache import RenderCache
    from kustodian.kustomize.files import kustomization_file
    from kustodian.pipeline import CheckOptions, Pipeline

    try:
        from kustodian.prmode import run_pr_check
    except ImportError:
        raise KustodianError("pull-request mode is not available in this build") from None

    # --env without PATH: every target is checked (one of another env may hold the
    # Applications deploying to ENV), the report keeps ENV's (discover.only_env)
    overlays = DiscoveryScope(paths, repo, config, env if paths else None)
    env_of = overlays.env_of
    options.kustomize = find_kustomize(repo)

    def tree_config(tree: Path) -> RepoConfig:
        return config if tree == repo else replace(config, root=tree)

    apiserver = options.apiserver
    base_renders: dict[str, str] = {}
    base_reports: list[Report] = []
    files_env = canonical_env(env, config.env_order)
    wanted = env

    def run_check(tree: Path, overlay_dirs: list[str]) -> Report:
        cfg = tree_config(tree)
        tree_targets = []
        plain = [tree / rel for rel in overlay_dirs
                 if (tree / rel).is_file() and is_manifest(tree / rel)]
        if plain:            # plain manifest files the change touched (see prmode.plain_files)
            tree_targets.append(Target("files", plain[0], os.path.dirname(
                os.path.relpath(plain[0], tree)) or ".", files_env, plain))
        for rel in overlay_dirs:
            if (tree / rel).is_file():
                continue
            at_head = kustomization_file(repo / rel) is not None
            env = (env_of(rel) if at_head else None) or cfg.env_for(rel)
            kind = "chart" if _is_chart(tree / rel) else "overlay"
            tree_targets.append(Target(kind, tree / rel, rel, env))
        if (tree / "Dockerfile").is_file():   # a repository-wide input of the gate
            tree_targets.append(Target("dockerfile", tree / "Dockerfile", "Dockerfile", None,
                                       [tree / "Dockerfile"]))
        opts = CheckOptions(**{**options.__dict__, "keep_rendered": True})
        if apiserver is not None and tree == repo:   # the base goes under the head's dry run
            apiserver.base = base_renders
            apiserver.base_findings = base_reports[0].findings if base_reports else None
        elif apiserver is not None:
            opts.apiserver = None
        if tree != repo:     # the base side: a revision holding the PR's commits is not there
            opts.revisions = options.revisions.before(git.resolve(base_ref).commit)
        pipeline = Pipeline(tree, cfg, opts)
        report = pipeline.run(tree_targets)
        if tree == repo:
            report.errors.extend(unpredicted(pipeline.argocd_holders, predicted))
        if wanted and not paths:
            try:
                only_env(report, tree_targets, wanted, cfg)
            except KustodianError:      # none of ENV's targets among those the PR affects
                report.findings, report.targets, report.overlays = [], [], []
        if report.errors and tree != repo:
            raise KustodianError("; ".join(report.errors))
        if tree != repo:
            base_renders.update(report.rendered)
            base_reports.append(report)
        return report

    def start_renders(tree: Path, overlay_dirs: list[str]) -> None:
        prefetch([(tree / rel, rel) for rel in overlay_dirs
                  if (tree / rel).is_dir() and not _is_chart(tree / rel)],
                 options.kustomize, RenderCache.for_tree(tree))

    predicted: set[str] = set()

    def argocd_roots(changed: set[str], scope: object, head: object, base: object,
                     git: Git) -> list[str]:
        """The targets holding Argo CD objects, or that may (checked on every change):
        run_pr_check passes its scope and its HEAD and base readers."""
        from kustodian.argocd.prscope import argocd_targets

        found = argocd_targets(repo, changed, scope, head, base, git)
        predicted.update(found)
        return found

    from kustodian.argocd.model import repo_urls

    options.this_repo = repo_urls(repo, config.repo_urls, git)
    # a generator's revision stands for the tree under check when it names HEAD or the branch
    # the PR merges into; the PR's own branch is another ref (its author can still move it)
    from kustodian.git import Revisions

    options.revisions = Revisions.for_pull_request(git, base_ref)
    try:
        result = run_pr_check(repo, base_ref, overlays, run_check, prepare=start_renders,
                              env_of=config.env_for, git=git, always=argocd_roots,
                              judge=judge)
    finally:
        discard_prefetched()
        options.revisions.close()     # the trees of other commits Applications deploy
    return result.report, result.markdown


def _is_chart(directory: Path) -> bool:
    """A Helm chart dir a check renders on its own: a Chart.yaml, no kustomization."""
    from kustodian.kustomize.files import kustomization_file

    return (directory / "Chart.yaml").is_file() and kustomization_file(directory) is None


def unpredicted(holders: dict[str, list[str]], predicted: set[str]) -> list[str]:
    """PR mode's backstop: errors for the targets of this run whose render holds an Argo CD
    object although PR mode's search (kustodian.argocd.prscope) did not count them among
    the targets that hold one. A later pull request editing only what such an object
    deploys would be checked without it, so the gate refuses to pass rather than judge an
    incomplete scope."""
    from kustodian.errors import KustodianError

    return [str(KustodianError(
        f"renders Argo CD object(s) ({', '.join(sorted(objects))}) that pull-request mode "
        "cannot find in the repository's files: later pull requests would be checked "
        "without what they deploy", file=target,
        hint="write the apiVersion out (`apiVersion: argoproj.io/v1alpha1`) in a file of "
             "the target, so that pull-request mode can follow the object"))
        for target, objects in sorted(holders.items()) if target not in predicted]


@click.command("docs")
def docs() -> None:
    """Print the rule catalogue as Markdown (docs/policies.md is generated from it)."""
    from kustodian.docsgen import generate

    click.echo(generate(), nl=False)


COMMANDS = [check, docs]
