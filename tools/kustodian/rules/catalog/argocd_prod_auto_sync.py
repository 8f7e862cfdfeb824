"""argocd-prod-auto-sync: no automated sync for an Application that reaches a prod path,
however it reaches it (a symlinked dir, sourceHydrator's dry source or sync target)."""

from __future__ import annotations

import os

from kustodian.argocd.model import is_argocd_object, parse_application
from kustodian.errors import KustodianError
from kustodian.resources import as_dict
from kustodian.rules.catalog._common import HIGH, RESOURCE, Rule, Violation

PROD = "prod"


def source_paths(app) -> list[tuple[tuple, str]]:
    """(field path, repository path) of every place the Application reads or writes (the
    Application model's sources, plus the hydrator's sync target)."""
    out = []
    for i, src in enumerate(app.sources):
        if src.path is None:
            continue
        field = (("spec", "sourceHydrator", "drySource", "path") if app.hydrator
                 else ("spec", "sources", i, "path") if app.raw["spec"].get("sources")
                 else ("spec", "source", "path"))
        out.append((field, src.path))
    hydrator = as_dict(app.raw["spec"].get("sourceHydrator"))
    for key in ("syncSource", "hydrateTo"):
        part = as_dict(hydrator.get(key))
        if isinstance(part.get("path"), str):
            out.append((("spec", "sourceHydrator", key, "path"), part["path"]))
    return out


def env_of_path(config, path: str) -> tuple[str | None, str]:
    """The env the repository maps `path` to after following symlinks, and the dir."""
    root = os.path.realpath(config.root)
    real = os.path.realpath(os.path.join(root, path.strip("/")))
    if real != root and not real.startswith(root + os.sep):
        return None, path
    rel = os.path.relpath(real, root)
    return config.env_for(rel), rel


def check(r, ctx):
    if not is_argocd_object(r.obj):
        return
    try:
        app = parse_application(r.obj, r.overlay or "")
    except KustodianError:
        return      # a malformed Application is reported where Applications are rendered
    if not app.automated:
        return
    config = ctx.config
    for field, path in source_paths(app):
        literal = config.env_for(path.strip("/")) if config is not None else None
        resolved, rel = env_of_path(config, path) if config is not None else (None, path)
        hydrator = field[1] == "sourceHydrator"
        if resolved == PROD and (literal != PROD or hydrator):
            how = (f"through sourceHydrator.{field[2]}" if hydrator
                   else f"through a symlink to {rel}")
            yield Violation(f"Application {r.name} is auto-synced and reaches prod {how} "
                            f"({path!r}); production changes must be synced by a person",
                            field)


RULE = Rule(
    id="argocd-prod-auto-sync", severity=HIGH, category="cluster-security", scope=RESOURCE,
    kinds=frozenset({"Application"}),
    title="No automated sync into prod, by any path",
    rationale="Production is synced by a person after review. The Rego rule "
              "argocd-prod-no-auto-sync judges an Application by its names and paths; this "
              "one follows the repository: a path that is a symlink to a prod overlay, or a "
              "sourceHydrator dry source / sync target mapped to prod, is prod too.",
    remediation="Remove spec.syncPolicy.automated from the Application (or point it at a "
                "non-prod path).",
    references=("https://argo-cd.readthedocs.io/en/stable/user-guide/auto_sync/",),
    check=check)
