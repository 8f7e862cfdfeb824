"""ApplicationSets expanded offline into the Applications the controller would create.

Generators evaluated here: `list`, `git` (`directories` and `files` of this repository,
read at the generator's `revision` as Argo CD reads them: the tree under check when the
revision is the one under check, else that commit of this clone through kustodian.git),
`matrix` and `merge` of those. A git generator whose revision is a branch or tag other than
the one under check is a `GeneratorNotice` (argocd-generator-revision: what it generates
follows a ref the check does not guard); one whose revision this clone does not hold is
an argocd-source-unrendered notice and generates nothing. Any other generator (clusters,
scmProvider, pullRequest, clusterDecisionResource, plugin) depends on a live cluster or
service and is an error that names it. Templates: the default `{{param}}` substitution
and, with `goTemplate: true`, field references `{{ .a.b }}` and `{{ index .path.segments N
}}`; any other Go template syntax (pipelines, functions, conditionals) and `templatePatch`
are errors.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kustodian.argocd.model import normalize_repo_url
from kustodian.errors import KustodianError
from kustodian.git import Revision, Revisions

OFFLINE_GENERATORS = ("list", "git", "matrix", "merge")
MAX_APPLICATIONS = 10_000
GENERATOR_REVISION = "argocd-generator-revision"
SOURCE_UNRENDERED = "argocd-source-unrendered"


@dataclass(frozen=True)
class GeneratorNotice:
    """A finding about one generator of an ApplicationSet (`rule` is its rule id)."""

    applicationset: str
    generator: int                   # index in spec.generators
    rule: str
    message: str
    hint: str


class _Unresolved(KustodianError):
    """A git generator's revision this clone cannot show: the generator yields nothing."""


class _Context:
    def __init__(self, root: Path, this_repo: frozenset[str], where: str, name: str,
                 go: bool, revisions: Revisions | None) -> None:
        self.root, self.this_repo, self.where, self.name, self.go = (root, this_repo, where,
                                                                      name, go)
        self.revisions = revisions
        self.generator = 0
        self.notices: list[GeneratorNotice] = []

    def fail(self, message: str, hint: str | None = None) -> KustodianError:
        return KustodianError(f"ApplicationSet {self.name}: {message}", file=self.where,
                              hint=hint)

    def notice(self, rule: str, message: str, hint: str) -> None:
        found = GeneratorNotice(self.name, self.generator, rule, message, hint)
        if found not in self.notices:
            self.notices.append(found)


def expand_applicationset(doc: dict, root: Path, this_repo: frozenset[str],
                          where: str, revisions: Revisions | None = None,
                          notices: list[GeneratorNotice] | None = None) -> list[dict]:
    """The Application documents an ApplicationSet generates (templates filled in).
    `revisions`: what a git generator's `revision` stands for (default: every revision is
    the tree under `root`); `notices` receives the generators' findings (see
    GeneratorNotice; without it, an unresolved revision is an error)."""
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    name = str(meta.get("name") or "?")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise KustodianError(f"ApplicationSet {name} has no spec", file=where)
    ctx = _Context(root, this_repo, where, name, bool(spec.get("goTemplate")), revisions)
    if spec.get("templatePatch"):
        raise ctx.fail("templatePatch is not evaluated offline",
                       hint="express the variation with generator parameters in `template`")
    template = spec.get("template")
    if not isinstance(template, dict):
        raise ctx.fail("has no template")
    generators = spec.get("generators")
    if not isinstance(generators, list) or not generators:
        raise ctx.fail("has no generators")
    apps: list[dict] = []
    for index, gen in enumerate(generators):
        gen_template = _generator_template(gen, template)
        ctx.generator = index
        try:
            generated = _generate(gen, ctx, depth=0)
        except _Unresolved as exc:
            if notices is None:
                raise
            ctx.notice(SOURCE_UNRENDERED, exc.message, exc.hint or "")
            continue
        for params in generated:
            app = _fill(copy.deepcopy(gen_template), params, ctx)
            app.setdefault("apiVersion", "argoproj.io/v1alpha1")
            app["kind"] = "Application"
            if not isinstance(app.get("metadata"), dict):
                app["metadata"] = {}
            app["metadata"].setdefault("namespace", meta.get("namespace"))
            apps.append(app)
            if len(apps) > MAX_APPLICATIONS:
                raise ctx.fail(f"generates more than {MAX_APPLICATIONS} Applications")
    if notices is not None:
        notices.extend(ctx.notices)
    return apps


def _generator_template(gen: Any, template: dict) -> dict:
    """The spec template with a generator's own `template` merged over it."""
    inner = next((v.get("template") for v in gen.values() if isinstance(v, dict)), None) \
        if isinstance(gen, dict) else None
    return _merge(template, inner) if isinstance(inner, dict) else template


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif value not in (None, "", {}, []):
            out[key] = copy.deepcopy(value)
    return out


def _generate(gen: Any, ctx: _Context, depth: int) -> list[dict[str, Any]]:
    if not isinstance(gen, dict) or len([k for k in gen if k != "selector"]) != 1:
        raise ctx.fail("each generator must have exactly one type")
    if gen.get("selector"):
        raise ctx.fail("generator selectors are not evaluated offline")
    kind = next(k for k in gen if k != "selector")
    body = gen[kind]
    if kind not in OFFLINE_GENERATORS:
        raise ctx.fail(f"the {kind!r} generator needs a live cluster or service and cannot "
                       "be evaluated offline",
                       hint=f"the gate evaluates only {', '.join(OFFLINE_GENERATORS)} "
                            "generators; list the Applications (or a list generator) instead")
    if not isinstance(body, dict):
        raise ctx.fail(f"the {kind} generator must be a mapping")
    if depth > 2:
        raise ctx.fail("generators nested more than two levels")
    if kind == "list":
        return _list(body, ctx)
    if kind == "git":
        return _git(body, ctx)
    children = body.get("generators")
    if not isinstance(children, list) or len(children) < 2:
        raise ctx.fail(f"a {kind} generator needs at least two child generators")
    results = [_generate(child, ctx, depth + 1) for child in children]
    if kind == "matrix":
        if len(children) != 2:
            raise ctx.fail("a matrix generator has exactly two child generators")
        return [{**a, **b} for a in results[0] for b in results[1]]
    keys = body.get("mergeKeys")
    if not isinstance(keys, list) or not keys:
        raise ctx.fail("a merge generator needs mergeKeys")
    merged = [dict(p) for p in results[0]]
    for extra in results[1:]:
        for params in extra:
            key = tuple(json.dumps(_lookup(params, k), sort_keys=True) for k in keys)
            for base in merged:
                if tuple(json.dumps(_lookup(base, k), sort_keys=True) for k in keys) == key:
                    base.update(params)
    return merged


def _lookup(params: dict, key: str) -> Any:
    if key in params:
        return params[key]
    value: Any = params
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _list(body: dict, ctx: _Context) -> list[dict[str, Any]]:
    if body.get("elementsYaml"):
        raise ctx.fail("list generator elementsYaml is not evaluated offline")
    elements = body.get("elements")
    if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
        raise ctx.fail("list generator elements must be a list of mappings")
    if ctx.go:
        return [copy.deepcopy(e) for e in elements]
    out = []
    for element in elements:
        params: dict[str, Any] = {}
        for key, value in element.items():
            if key == "values" and isinstance(value, dict):
                params.update({f"values.{k}": str(v) for k, v in value.items()})
            else:
                params[str(key)] = value if isinstance(value, str) else json.dumps(value)
        out.append(params)
    return out


def _git(body: dict, ctx: _Context) -> list[dict[str, Any]]:
    url = body.get("repoURL")
    if not isinstance(url, str) or normalize_repo_url(url) not in ctx.this_repo:
        raise ctx.fail(f"the git generator reads {url!r}, not this repository",
                       hint="only generators over this repository are evaluated offline; add "
                            "this repository's URL to .kustodian.yaml `repoURLs` if it is one")
    prefix = body.get("pathParamPrefix") or ""
    values = body.get("values") if isinstance(body.get("values"), dict) else {}
    tree = _revision_tree(body, ctx)
    if body.get("directories") is not None:
        params = [_path_params(d, None, prefix, ctx.go) for d in _directories(body, ctx, tree)]
    elif body.get("files") is not None:
        params = []
        for rel in _files(body, ctx, tree):
            params.extend(_file_params(rel, prefix, ctx, tree))
    else:
        raise ctx.fail("the git generator needs directories or files")
    for p in params:
        if values:
            filled = {k: _fill(copy.deepcopy(v), p, ctx) for k, v in values.items()}
            if ctx.go:
                p["values"] = filled
            else:
                p.update({f"values.{k}": str(v) for k, v in filled.items()})
    return params


def _revision_tree(body: dict, ctx: _Context) -> str | None:
    """The commit a git generator reads (None: the tree under check), as Argo CD reads the
    generator at its `revision`. A revision this clone does not hold is `_Unresolved`; a
    branch or tag other than the one under check is evaluated at its commit and noticed."""
    raw = body.get("revision")
    name = "" if raw is None else str(raw)
    revision = (ctx.revisions.resolve(name) if ctx.revisions is not None
                else Revision(name, "checked"))
    shown = name or "HEAD"
    if revision.kind == "unresolved":
        raise _Unresolved(
            f"ApplicationSet {ctx.name}: the git generator reads revision {shown!r}, which "
            f"the gate cannot read offline ({revision.reason}); the Applications it "
            "generates are not checked",
            file=ctx.where,
            hint="point the generator at HEAD (the revision under check), or fetch the ref "
                 "into the clone the gate runs in (actions/checkout with fetch-depth: 0)")
    if revision.movable:
        ctx.notice(GENERATOR_REVISION,
                   f"ApplicationSet {ctx.name}: the git generator reads revision {shown!r} "
                   f"(a {revision.kind}, now at {revision.commit[:12]}), not the revision "
                   f"under check: whoever can move that {revision.kind} decides which "
                   "Applications Argo CD generates, after this check passed",
                   "point the generator at HEAD or the branch this repository deploys from, "
                   "or pin a commit sha")
    return None if revision.kind == "checked" else revision.commit


def _visible(path: str) -> bool:
    """Not inside a hidden dir (the generators skip them, as the tree walk below does)."""
    return not any(part.startswith(".") for part in path.split("/")[:-1])


def _repo_dirs(root: Path) -> list[str]:
    dirs: list[str] = []
    for current, subdirs, _ in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        rel = os.path.relpath(current, root)
        if rel != ".":
            dirs.append(rel.replace(os.sep, "/"))
    return dirs


def _repo_files(root: Path) -> list[str]:
    files: list[str] = []
    for current, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        rel = os.path.relpath(current, root)
        files.extend(n if rel == "." else f"{rel}/{n}".replace(os.sep, "/")
                     for n in sorted(names))
    return files


def _go_path_match(pattern: str, path: str) -> bool:
    """Go's path.Match: `*` and `?` stop at `/`."""
    regex = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            regex += "[^/]*"
        elif ch == "?":
            regex += "[^/]"
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                return False
            inner = pattern[i + 1:end].replace("\\", "\\\\")
            regex += "[" + ("^" + inner[1:] if inner.startswith("^") else inner) + "]"
            i = end
        else:
            regex += re.escape(ch)
        i += 1
    return re.fullmatch(regex, path) is not None


def _directories(body: dict, ctx: _Context, tree: str | None) -> list[str]:
    items = body["directories"]
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(
            i.get("path"), str) for i in items):
        raise ctx.fail("git directories must be a list of {path: ...}")
    if tree is None:
        every = _repo_dirs(ctx.root)
    else:
        every = [d for d in ctx.revisions.listing(tree)[0] if _visible(d + "/x")]
    chosen = []
    for rel in every:
        hits = [i for i in items if _go_path_match(i["path"], rel)]
        if any(not i.get("exclude") for i in hits) and not any(i.get("exclude") for i in hits):
            chosen.append(rel)
    return chosen


def _files(body: dict, ctx: _Context, tree: str | None) -> list[str]:
    items = body["files"]
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(
            i.get("path"), str) for i in items):
        raise ctx.fail("git files must be a list of {path: ...}")
    if tree is None:
        every = _repo_files(ctx.root)
    else:
        every = [f for f in ctx.revisions.listing(tree)[1] if _visible(f)]
    chosen: list[str] = []
    for item in items:
        if item.get("exclude"):
            chosen = [f for f in chosen if not fnmatch.fnmatchcase(f, item["path"])]
        else:
            chosen.extend(f for f in every if fnmatch.fnmatchcase(f, item["path"])
                          and f not in chosen)
    return chosen


def sanitize_name(name: str) -> str:
    """Argo CD's basenameNormalized: a DNS-1123 label."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower())
    return text[:63].strip("-")


def _path_params(rel: str, filename: str | None, prefix: str, go: bool) -> dict[str, Any]:
    base = posixpath.basename(rel)
    if go:
        path: dict[str, Any] = {"path": rel, "basename": base,
                                "basenameNormalized": sanitize_name(base),
                                "segments": rel.split("/")}
        if filename is not None:
            path.update(filename=filename, filenameNormalized=sanitize_name(filename))
        return {prefix: {"path": path}} if prefix else {"path": path}
    name = f"{prefix}.path" if prefix else "path"
    params: dict[str, Any] = {name: rel, f"{name}.basename": base,
                              f"{name}.basenameNormalized": sanitize_name(base)}
    if filename is not None:
        params[f"{name}.filename"] = filename
        params[f"{name}.filenameNormalized"] = sanitize_name(filename)
    params.update({f"{name}[{k}]": v for k, v in enumerate(rel.split("/")) if v})
    return params


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}.{i}" if prefix else str(i), out)
    else:
        out[prefix] = "<nil>" if value is None else (
            ("true" if value else "false") if isinstance(value, bool) else str(value))


def _file_params(rel: str, prefix: str, ctx: _Context, tree: str | None
                 ) -> list[dict[str, Any]]:
    from kustodian.yamlio import load_documents, read_text

    if tree is None:
        shown = rel
        text = read_text(ctx.root / rel, shown)
    else:
        shown = f"{rel}@{tree[:12]}"
        raw = ctx.revisions.read(tree, rel)
        if raw is None:
            raise ctx.fail(f"cannot read {shown}")
        text = raw.decode("utf-8", errors="replace")    # load_documents bounds it
    docs = load_documents(text, shown)
    data = docs[0][1] if docs else {}
    objects = data if isinstance(data, list) else [data or {}]
    out = []
    for obj in objects:
        if not isinstance(obj, dict):
            raise ctx.fail(f"{rel} must hold a mapping or a list of mappings")
        if ctx.go:
            params = copy.deepcopy(obj)
        else:
            flat: dict[str, str] = {}
            _flatten(obj, "", flat)
            params = dict(flat)
        params.update(_path_params(posixpath.dirname(rel), posixpath.basename(rel), prefix,
                                   ctx.go))
        out.append(params)
    return out


_FAST = re.compile(r"\{\{(.*?)\}\}", re.S)
_GO_FIELD = re.compile(r"^\s*-?\s*\.([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s*-?\s*$")
_GO_INDEX = re.compile(r"^\s*-?\s*index\s+\.([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s+(\d+)"
                       r"\s*-?\s*$")


def _fill(value: Any, params: dict[str, Any], ctx: _Context) -> Any:
    """The template with every string's placeholders replaced (keys too)."""
    if isinstance(value, dict):
        return {_fill(k, params, ctx): _fill(v, params, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, params, ctx) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    if ctx.go:
        return _FAST.sub(lambda m: _go_expr(m.group(1), params, ctx), value)

    def fast(match: re.Match) -> str:
        key = match.group(1).strip()
        if key in params:
            item = params[key]
            return item if isinstance(item, str) else json.dumps(item)
        return match.group(0)   # fasttemplate leaves unknown keys as written
    return _FAST.sub(fast, value)


def _go_expr(expr: str, params: dict[str, Any], ctx: _Context) -> str:
    field = _GO_FIELD.match(expr)
    index = _GO_INDEX.match(expr)
    if field:
        value: Any = _lookup_go(params, field.group(1), ctx)
    elif index:
        seq = _lookup_go(params, index.group(1), ctx)
        position = int(index.group(2))
        if not isinstance(seq, list) or position >= len(seq):
            raise ctx.fail(f"template {{{{{expr}}}}}: index out of range")
        value = seq[position]
    else:
        raise ctx.fail(f"template expression {{{{{expr.strip()}}}}} is not evaluated offline",
                       hint="the gate evaluates field references ({{.path.basename}}) and "
                            "{{index .path.segments N}}")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "<no value>" if value is None else str(value)


def _lookup_go(params: dict[str, Any], dotted: str, ctx: _Context) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ctx.fail(f"template references .{dotted}, which no generator sets",
                           hint="Argo CD's missingkey=error would refuse it too")
        value = value[part]
    return value
