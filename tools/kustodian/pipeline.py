"""`kustodian check` end to end: discover -> render -> load -> validate -> evaluate -> report.

Renders run in a thread pool of kustomize processes; each overlay is loaded, validated and
evaluated as soon as its render finishes, while the others are still rendering.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kustodian.config import RepoConfig, load_config
from kustodian.conftest_runner import ConftestInput, run_conftest
from kustodian.diagnose import diagnose
from kustodian.discover import Discovery, Target, discover, display_path, only_env
from kustodian.errors import KustodianError
from kustodian.forking import can_fork, fork_map
from kustodian.kustomize.build import (
    Rendered,
    find_kustomize,
    find_tool,
    parse_origin,
    render,
    render_all,
    strip_origin,
)
from kustodian.kustomize.cache import RenderCache
from kustodian.model import Finding, Report, Severity
from kustodian.resources import ORIGIN_ANNOTATION, Resource, configure_pod_kinds
from kustodian.rules.context import DEFAULT_KUBERNETES_VERSION, OverlayContext, parse_version
from kustodian.rules.meta import SCHEMA_INVALID
from kustodian.rules.registry import all_rules
from kustodian.rules.runner import Evaluator, Selection
from kustodian.schemas import SchemaValidator, pinned_kubernetes_version
from kustodian.sourcemap import SourceMap, TreeBuilder
from kustodian.yamlio import load_documents, read_text

_SLICE_MIN = 150   # resources per forked evaluation slice, at least


@dataclass
class CheckOptions:
    """What to run and with which tools."""

    env: str | None = None
    schema: bool = True
    conftest: bool = True
    keep_rendered: bool = False
    kustomize: str | None = None
    conftest_bin: str | None = None
    policy_dir: Path | None = None
    workers: int | None = None
    today: dt.date | None = None
    this_repo: frozenset[str] | None = None   # normalized URLs meaning "this repository"
    revisions: Any = None     # kustodian.git.Revisions: the revisions meaning "this tree"
    apiserver: Any = None     # a kustodian.apiserver.ApiserverCheck: dry-run every target


@dataclass
class _Group:
    """Resources of one target, with the map back to their sources."""

    target: Target
    resources: list[Resource]
    sourcemap: SourceMap
    rendered_text: str | None = None
    evaluator: Any = None


@dataclass
class Pipeline:
    root: Path
    config: RepoConfig
    options: CheckOptions
    report: Report = field(default_factory=Report)
    _validator: Any = None
    _builder: TreeBuilder = field(default_factory=TreeBuilder)
    _groups: list[_Group] = field(default_factory=list)
    _selections: dict[str | None, Any] = field(default_factory=dict)
    _dockerfiles: list[Target] = field(default_factory=list)
    _policy_ids: frozenset[str] | None = None
    _shown: dict[str, str] = field(default_factory=dict)   # absolute file -> display path
    _root_prefix: str | None = None
    _k8s_version: tuple[int, int] | None = None
    _found: list = field(default_factory=list)              # Argo CD objects seen (Found)
    _apps_of: dict[str, list[str]] = field(default_factory=dict)  # target -> Applications
    _app_targets: list[Target] = field(default_factory=list)     # planned from Applications
    _trees: dict[str, str] = field(default_factory=dict)  # other commits' trees: dir/ -> @sha
    _own_revisions: Any = None          # a kustodian.git.Revisions this run made (closed)
    # the targets found without an Application (discovered or named) whose render holds an
    # Argo CD object (a plain file: the file), with those objects: PR mode's backstop
    argocd_holders: dict[str, list[str]] = field(default_factory=dict)

    # --- entry points -----------------------------------------------------------------
    def run(self, targets: list[Target]) -> Report:
        """The whole check over `targets`. Python's cyclic garbage collector is paused
        meanwhile: the run allocates millions of acyclic objects (loaded manifests, node
        trees), and each full collection would walk all of them again (with it on, the
        1000-app benchmark spends half its time collecting)."""

        configure_pod_kinds(self.config.pod_kinds)
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._run(targets)
        finally:
            if self._own_revisions is not None:
                self._own_revisions.close()
            if paused:
                gc.enable()

    def _run(self, targets: list[Target]) -> Report:
        started = time.perf_counter()
        timings = self.report.timings
        overlays = [t for t in targets if t.kind == "overlay"]
        self.report.overlays = [t.display for t in targets if t.kind != "dockerfile"]
        self._dockerfiles = [t for t in targets if t.kind == "dockerfile"]
        kustomize = self.options.kustomize or (find_kustomize(self.root) if overlays else "")
        render_time = 0.0
        overlays, online = self._refuse_remote(overlays)
        cache = RenderCache.for_tree(self.root) if overlays else None
        pending = render_all([(t.path, t.display) for t in overlays], kustomize,
                             self.options.workers, online, cache)
        self._warm_up()   # imports and schema loading overlap with the kustomize processes
        for t in targets:
            if t.kind == "files":
                self._guard(t.display, lambda t=t: self._check(self._load_files(t)))
        by_path = {t.path: t for t in overlays}
        for rendered in pending:
            render_time += rendered.seconds
            target = by_path[rendered.overlay]
            if rendered.error is not None:
                self.report.errors.append(self._render_error(target, rendered))
                continue
            self._guard(target.display,
                        lambda t=target, r=rendered: self._check(self._load_rendered(t, r)))
        if self._found or any(t.kind == "chart" for t in targets):
            t0 = time.perf_counter()
            from kustodian.argocd.pipeline import follow_applications

            render_time += follow_applications(self, targets)
            timings["argocd_s"] = round(time.perf_counter() - t0, 4)
        self._env_errors(targets)
        self._list_targets(targets)
        timings["render_cpu_s"] = round(render_time, 4)
        if self.options.conftest:
            t0 = time.perf_counter()
            self._guard("conftest", self._run_conftest)
            timings["conftest_s"] = round(time.perf_counter() - t0, 4)
        if self.options.apiserver is not None:
            t0 = time.perf_counter()
            self._guard("apiserver", self._run_apiserver)
            timings["apiserver_s"] = round(time.perf_counter() - t0, 4)
        for group in self._groups:
            if group.evaluator is not None:
                self.report.exemptions.extend(group.evaluator.exemption_uses())
        # groups are in the order their renders finished: sort, so every run reports alike
        self.report.exemptions.sort(key=lambda e: (
            e.file or "", e.line or 0, e.env or "", e.kind, e.namespace or "", e.name, e.rule,
            e.container or "", e.overlay or ""))
        self.report.findings.sort(key=_sort_key)
        timings["total_s"] = round(time.perf_counter() - started, 4)
        return self.report

    def _check(self, group: _Group) -> None:
        """Evaluate one loaded target, noting the Argo CD objects it holds (they deploy
        targets of their own: kustodian.argocd.pipeline follows them)."""
        from kustodian.argocd.model import APP_KINDS, is_argocd_object

        for r in group.resources:
            if r.kind in APP_KINDS and is_argocd_object(r.obj):
                self._found.append((group, r))
                if not group.target.application:
                    holder = self._display(r.file) or group.target.display
                    self.argocd_holders.setdefault(holder, []).append(
                        f"{r.kind} {r.metadata.get('name')}")
        self._evaluate(group)

    def _env_errors(self, targets: list[Target]) -> None:
        """A target found without PATH whose env nobody can tell is an error (prod-only
        rules would silently not run), unless an Application deploys it under an env."""
        from kustodian.config import CONFIG_NAME

        covered = {t.path for t in self._app_targets if t.env}
        # a dir an Application deploys at another commit: its env is the Application's too
        covered |= {self.root / t.recipe.path for t in self._app_targets
                    if t.env and t.recipe is not None and t.recipe.root}
        for t in targets:
            if t.kind in ("overlay", "chart") and t.env is None and not t.explicit \
                    and t.path not in covered:
                self.report.errors.append(str(KustodianError(
                    "no environment for this target: prod-only rules would not run",
                    file=t.display,
                    hint=f"map it in {CONFIG_NAME}: `overlays: {{{t.display}: {{env: prod}}}}` "
                         "(or name its dir after the env, e.g. overlays/prod, or deploy it "
                         "through an Argo CD Application with an env)")))

    def _list_targets(self, targets: list[Target]) -> None:
        """Every checked target with its env and the Applications that deploy it."""
        by_apps = {t.path for t in self._app_targets}
        for t in [*targets, *self._app_targets]:
            if t.kind == "dockerfile" or (t.kind == "chart" and t.path in by_apps):
                continue
            apps = self._apps_of.get(t.display) or ([t.application] if t.application else [])
            self.report.targets.append({"target": t.display, "kind": t.kind, "env": t.env,
                                        "applications": apps})
        if self._apps_of:
            from dataclasses import replace

            self.report.findings = [
                replace(f, application=", ".join(self._apps_of[f.overlay]))
                if f.application is None and f.overlay in self._apps_of else f
                for f in self.report.findings]

    def _refuse_remote(self, overlays: list[Target]) -> tuple[list[Target], frozenset[Path]]:
        """Overlays naming remote or outside content: a `remote-resource` finding per
        reference and no render. Returns the overlays to render, and those to render online
        (only allowed, pinned remote references)."""
        from kustodian.remote import scan
        from kustodian.rules.meta import REMOTE_RESOURCE

        keep: list[Target] = []
        online: set[Path] = set()
        cache: dict = {}
        for t in overlays:
            refs = scan(t.path, self.root, self.config.remote_allow, cache)
            refused = [r for r in refs if not r.allowed]
            for r in refused:
                self.report.findings.append(Finding(
                    rule=REMOTE_RESOURCE.id, severity=REMOTE_RESOURCE.severity,
                    category=REMOTE_RESOURCE.category,
                    message=f"{r.field}: {r.ref!r} {r.why}; the overlay is not rendered",
                    remediation=REMOTE_RESOURCE.remediation, env=t.env,
                    file=self._display(str(r.kfile)), line=r.line, overlay=t.display,
                    title=REMOTE_RESOURCE.title))
            if not refused:
                keep.append(t)
                if refs:
                    online.add(t.path)
        return keep, frozenset(online)

    def _policy_rule_ids(self) -> frozenset[str]:
        """Kebab-case string literals of the Rego policies: the rule ids an exemption may
        name besides the built-in ones."""
        if self._policy_ids is None:
            ids: set[str] = set()
            policy_dir = self.options.policy_dir or self.root / "policies"
            if self.options.conftest and policy_dir.is_dir():
                for rego in policy_dir.rglob("*.rego"):
                    if not rego.name.endswith("_test.rego"):
                        try:
                            ids.update(_KEBAB.findall(rego.read_text(encoding="utf-8")))
                        except (OSError, UnicodeDecodeError):
                            continue
            self._policy_ids = frozenset(ids)
        return self._policy_ids

    def _warm_up(self) -> None:

        all_rules()
        self._policy_rule_ids()
        if self.options.schema:
            self._guard("schema", self._schema_validator)

    def _schema_validator(self) -> Any:
        """The schema validator, built once; None after a failed construction (reported once)."""
        if self._validator is None:

            self._validator = False
            self._validator = SchemaValidator()
        return self._validator or None

    def _render_error(self, target: Target, rendered: Rendered) -> str:
        """kustomize's message, preceded by the file:line at fault when we can find it."""

        try:
            cause = diagnose(target.path, lambda p: display_path(p, self.root), self.root)
        except (OSError, RecursionError, KustodianError):
            cause = None
        text = str(rendered.error)
        return f"{cause}\n  kustomize: {text}" if cause is not None else text

    def _guard(self, where: str, action: Callable[[], Any]) -> None:
        """Run one stage; a KustodianError becomes a report error (exit 2), not a crash."""
        try:
            action()
        except KustodianError as exc:
            self.report.errors.append(str(exc))
        except RecursionError:
            self.report.errors.append(f"{where}: input nested too deeply")

    # --- loading ------------------------------------------------------------------------
    def _load_files(self, target: Target, root: Path | None = None) -> _Group:
        """Plain manifest files (of `root`, default the repository). (Parsing them in forked
        slices was measured: no faster, since unpickling the parsed documents costs about
        half of what parsing them does.)"""

        t0 = time.perf_counter()
        resources: list[Resource] = []
        real_root = self._real_root() if root is None else os.path.realpath(root)
        for path in target.files:
            real = os.path.realpath(path)   # resolved once: display, reading, source lines
            shown = self._display_real(real)
            text = read_text(real, shown, root=real_root, resolved=True)
            for index, doc in load_documents(text, shown, keep_nodes_as=real):
                resources.extend(_resources_of(doc, shown, index, real))
        self.report.timings["load_s"] = round(
            self.report.timings.get("load_s", 0.0) + time.perf_counter() - t0, 4)
        return _Group(target, resources, SourceMap(builder=self._builder))

    def _load_rendered(self, target: Target, rendered: Rendered) -> _Group:

        resources: list[Resource] = []
        for _, doc in load_documents(rendered.text, target.display, strict=False):
            if not isinstance(doc, dict):
                raise KustodianError("kustomize produced a non-mapping document",
                                     file=target.display)
            resources.append(Resource(doc, origin=_pop_origin(doc), overlay=target.display,
                                      env=target.env))
        text = strip_origin(rendered.text)
        if self.options.keep_rendered:
            self.report.rendered[target.display] = text
        smap = SourceMap(Path(os.path.realpath(target.path)), rendered.wrapper_dir or None,
                         self._builder, fallback=lambda: self._annotated_render(target))
        return _Group(target, resources, smap, text)

    def _annotated_render(self, target: Target) -> tuple[str, dict[tuple, dict]]:
        """Origins from a render with origin annotations, for the resources the source map
        cannot place by name (generated, renamed, component-prefixed...)."""

        kustomize = self.options.kustomize or find_kustomize(self.root)
        rendered = render(target.path, target.display, kustomize, origins=True)
        origins: dict[tuple, dict] = {}
        if rendered.error is not None:
            return "", origins
        for _, doc in load_documents(rendered.text, target.display, strict=False):
            if isinstance(doc, dict):
                origin = _pop_origin(doc)
                meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
                if origin:
                    origins[(str(doc.get("kind") or ""), meta.get("namespace") or None,
                             str(meta.get("name") or ""))] = origin
        return rendered.wrapper_dir, origins

    # --- evaluation ---------------------------------------------------------------------
    def _evaluate(self, group: _Group) -> None:

        t0 = time.perf_counter()
        self._groups.append(group)
        target = group.target
        for r in group.resources:
            r.env = target.env
            r.overlay = target.display if target.kind == "overlay" else None
        self.report.resources += len(group.resources)
        ctx = OverlayContext(group.resources, target.env,
                             target.display if target.kind == "overlay" else None,
                             self._kubernetes_version(), self.config)
        selection = self._selections.get(target.env)
        if selection is None:   # rule applicability is computed once per env
            selection = Selection.for_env(target.env, self.config.profile(target.env))
            self._selections[target.env] = selection
        evaluator = group.evaluator = Evaluator(ctx, selection, group.sourcemap.locate,
                                                self._display, self.options.today,
                                                self._policy_rule_ids(),
                                                self.config.exemptions,
                                                group.sourcemap.declaration)
        evaluator.prepare()
        resources = group.resources
        parts = self._parts(len(resources))
        if parts > 1 and self.options.schema and self._schema_validator() is not None:
            for kind in {(r.obj.get("apiVersion"), r.kind) for r in resources}:
                if all(isinstance(v, str) and v for v in kind):   # compiled once, pre-fork
                    self._schema_validator().knows(*kind)
        bounds = [len(resources) * k // parts for k in range(parts + 1)]

        def evaluate_slice(k: int) -> tuple[list[Finding], list[Finding], tuple | None]:
            """Schema and per-resource rule findings of slice k (maybe in a forked child)."""
            chunk = resources[bounds[k]:bounds[k + 1]]
            schema = self._schema_findings(group, chunk) if self.options.schema else []
            before = len(evaluator.result.findings)
            start = evaluator.slice_start() if k else None
            evaluator.evaluate(chunk)
            changes = evaluator.slice_changes(start) if start is not None else None
            return schema, evaluator.result.findings[before:], changes

        for (schema, found, changes), ran_here in fork_map(evaluate_slice, parts):
            self.report.findings.extend(schema)
            if not ran_here:   # a child's work: merge it into this process's evaluator
                evaluator.result.findings.extend(found)
                evaluator.merge_slice(changes)
        self.report.findings.extend(evaluator.result.findings)
        self.report.timings["evaluate_s"] = round(
            self.report.timings.get("evaluate_s", 0.0) + time.perf_counter() - t0, 4)

    def _kubernetes_version(self) -> tuple[int, int]:
        """The configured Kubernetes version, else the pinned one (tools/setup)."""
        if self._k8s_version is None:

            version = self.config.kubernetes_version
            if version is None:
                try:
                    version = parse_version(pinned_kubernetes_version())
                except KustodianError:
                    version = None
            self._k8s_version = version or DEFAULT_KUBERNETES_VERSION
        return self._k8s_version

    def _parts(self, count: int) -> int:
        """How many processes evaluate a target of `count` resources (forking pays off
        from a few hundred resources on)."""
        workers = self.options.workers or os.cpu_count() or 1
        if workers < 2 or count < 2 * _SLICE_MIN or not can_fork():
            return 1
        return min(workers, count // _SLICE_MIN)

    def _display(self, file: str | None) -> str | None:
        if not file:
            return None
        shown = self._shown.get(file)
        if shown is None:
            shown = self._in_tree(file) or display_path(Path(file), self.root)
            self._shown[file] = shown
        return shown

    def show_tree(self, tree: str, commit: str) -> None:
        """Files under `tree` (another commit's tree written out) are shown as
        `<path in the commit>@<short sha>`."""
        self._trees.setdefault(os.path.join(os.path.realpath(tree), ""), "@" + commit[:12])

    def _in_tree(self, file: str) -> str | None:
        if not self._trees:
            return None
        real = os.path.realpath(file)
        for prefix, label in self._trees.items():
            if real.startswith(prefix):
                return real[len(prefix):] + label
        return None

    def _real_root(self) -> str:
        """The repository root through `os.path.realpath`, resolved once per run."""
        if self._root_prefix is None:
            self._root_prefix = os.path.join(os.path.realpath(self.root), "")
        return self._root_prefix[:-1] or os.sep

    def _display_real(self, real: str) -> str:
        """`_display` of a path already resolved by realpath (no second resolution)."""
        self._real_root()
        assert self._root_prefix is not None
        if real.startswith(self._root_prefix) and not self._trees:
            self._shown.setdefault(real, real[len(self._root_prefix):])
        return self._display(real) or real

    def _schema_findings(self, group: _Group, resources: list[Resource]) -> list[Finding]:
        """Schema findings of some of a group's resources."""

        validator = self._schema_validator()
        if validator is None:
            return []
        profile = self.config.profile(group.target.env)
        if SCHEMA_INVALID.id in profile.disable:
            return []
        severity = profile.severity.get(SCHEMA_INVALID.id, SCHEMA_INVALID.severity)
        findings: list[Finding] = []
        for r in resources:
            for issue in validator.validate(r.obj):
                file, line = group.sourcemap.locate(r, issue.parts)
                findings.append(Finding(
                    rule=SCHEMA_INVALID.id, severity=severity, category="schema",
                    message=f"{issue.path or r.kind}: {issue.message}",
                    remediation=SCHEMA_INVALID.remediation, env=group.target.env,
                    kind=r.kind, name=r.name, namespace=r.namespace,
                    file=self._display(file), line=line, overlay=r.overlay, source="schema",
                    field_path=issue.parts or None, title=SCHEMA_INVALID.title))
        return findings

    def _run_apiserver(self) -> None:
        from kustodian.apiserver import check_groups

        self.report.findings.extend(check_groups(self.options.apiserver, self._groups,
                                                 self.config, self._display))

    # --- conftest -----------------------------------------------------------------------
    def _run_conftest(self) -> None:
        policy_dir = self.options.policy_dir or self.root / "policies"
        conftest_bin = self.options.conftest_bin or _find_conftest(self.root)
        if conftest_bin is None or not policy_dir.is_dir():
            return
        inputs = []
        index: dict[tuple, tuple[_Group, Resource]] = {}
        for group in self._groups:
            t = group.target
            if t.kind == "overlay":     # conftest sees a name that is the same every run
                inputs.append(ConftestInput(Path(f"{t.display.replace('/', '_')}.yaml"), "k8s",
                                            t.env, t.display, text=group.rendered_text or ""))
            else:
                inputs.extend(ConftestInput(p, "k8s", t.env, None) for p in t.files)
            for r in group.resources:
                index.setdefault((t.display if t.kind == "overlay" else None, r.kind,
                                  r.namespace, r.name), (group, r))
        for t in self._dockerfiles:
            inputs.extend(ConftestInput(p, "dockerfile", None, None) for p in t.files)
        findings = run_conftest(inputs, policy_dir=policy_dir, conftest_bin=conftest_bin,
                                tree=self.root)
        for f in findings:
            mapped = self._map_conftest(f, index)
            if mapped is not None:
                self.report.findings.append(mapped)

    def _map_conftest(self, f: Finding, index: dict) -> Finding | None:
        """A Rego finding at its source line (None when an exemption covers it)."""

        if f.file is not None or f.kind is None:
            return f
        hit = index.get((f.overlay, f.kind, f.namespace or None, f.name)) or next(
            (v for k, v in index.items() if k[1:] == (f.kind, f.namespace or None, f.name)),
            None)
        if hit is None:
            return f
        group, r = hit
        if group.evaluator is not None and group.evaluator.exempted(r, f.rule, f.container
                                                                    or None):
            return None
        path: tuple = ()
        w = r.workload
        if f.container and w is not None:
            path = next((c.path for c in w.containers() if c.name == f.container), ())
            if path and f.field_path:  # a Rego "field" is relative to the container
                path = (*path, *f.field_path)
        file, line = group.sourcemap.locate(r, path)
        return replace(f, file=self._display(file), line=line,
                       field_path=path or f.field_path)


_KEBAB = re.compile(r'"([a-z0-9]+(?:-[a-z0-9]+)+)"')


def _find_conftest(root: Path) -> str | None:

    return find_tool("conftest", root)


def _pop_origin(doc: dict) -> dict | None:
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return None
    ann = meta.get("annotations")
    if not isinstance(ann, dict) or ORIGIN_ANNOTATION not in ann:
        return None
    raw = ann.pop(ORIGIN_ANNOTATION)
    if not ann:
        del meta["annotations"]

    return parse_origin(raw)


def _resources_of(doc: Any, shown: str, index: int, real: str) -> list[Resource]:
    """Resources of one plain document (`kind: List` items expanded)."""
    if not isinstance(doc, dict):
        raise KustodianError(f"document {index + 1} is a {type(doc).__name__}, not a "
                             "Kubernetes resource (a mapping)", file=shown,
                             hint="every YAML document must be a mapping with apiVersion "
                                  "and kind")
    if doc.get("kind") == "List" or (str(doc.get("kind", "")).endswith("List")
                                     and isinstance(doc.get("items"), list)):
        items = doc.get("items") or []
        if not isinstance(items, list):
            raise KustodianError(f"document {index + 1}: List items must be a list",
                                 file=shown)
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise KustodianError(f"document {index + 1}: List item {i} is not a mapping",
                                     file=shown)
            out.append(Resource(item, file=real, doc_index=index, item_index=i))
        return out
    return [Resource(doc, file=real, doc_index=index)]


_SEV = {s: i for i, s in enumerate(Severity)}


def _sort_key(f: Finding) -> tuple:
    return (f.env or "", f.file or "", f.line or 0, -int(f.severity), f.rule, f.name or "",
            f.container or "")


def run_check(root: Path, paths: list[str], options: CheckOptions,
              config: RepoConfig | None = None) -> Report:
    """The whole check `kustodian check [PATH...]` runs (full mode): the targets of `paths`
    (every target of `root` when empty), rendered with the pinned kustomize, evaluated;
    the report lists what the ignore rules left out. Used by the command and, in process,
    by the release gate."""
    config = config or load_config(root)
    found = Discovery(root, config)
    targets = discover(paths, root, config, options.env, found)
    if options.kustomize is None and any(t.kind == "overlay" for t in targets):
        options.kustomize = find_kustomize(root)
    report = Pipeline(root, config, options).run(targets)
    if options.env and not paths:
        only_env(report, targets, options.env, config)
    report.ignored = found.ignored
    return report
