"""The one Application model: parsed `Application` objects, their sources and their env.

An Application is read from a plain manifest file or from a rendered target (app of apps);
`ApplicationSet`s are expanded into Applications by `kustodian.argocd.appset`. Nothing here
touches the file system except `repo_urls` (the checkout's git remotes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kustodian.errors import KustodianError

if TYPE_CHECKING:
    from kustodian.git import Git

API_GROUP = "argoproj.io"
APP_KINDS = ("Application", "ApplicationSet")
ENV_LABEL = "kustodian.io/env"
SOURCE_TYPES = ("kustomize", "helm", "directory", "plugin")


def is_argocd_object(doc: Any) -> bool:
    """An `argoproj.io` Application or ApplicationSet document."""
    return (isinstance(doc, dict) and doc.get("kind") in APP_KINDS
            and str(doc.get("apiVersion", "")).split("/")[0] == API_GROUP)


@dataclass(frozen=True)
class Source:
    """One entry of `spec.source`, `spec.sources` or `spec.sourceHydrator.drySource`."""

    repo_url: str
    path: str | None
    chart: str | None
    target_revision: str
    ref: str | None
    raw: dict = field(compare=False, hash=False)

    @property
    def options(self) -> dict[str, Any]:
        """The tool sections set on the source (kustomize / helm / directory / plugin)."""
        return {k: self.raw[k] for k in SOURCE_TYPES if self.raw.get(k) is not None}


@dataclass
class Application:
    """An Argo CD Application: what it deploys (sources), where (destination), how (sync)."""

    name: str
    namespace: str | None
    project: str
    labels: dict[str, str]
    destination: dict[str, Any]
    sources: list[Source]
    sync_policy: dict[str, Any]
    where: str                      # the file (or target) it was read from, for messages
    raw: dict = field(repr=False)
    parent: str | None = None       # the Application whose render produced it
    hydrator: bool = False          # the sources come from sourceHydrator.drySource

    @property
    def automated(self) -> bool:
        """Argo CD syncs it by itself (`syncPolicy.automated`, not disabled)."""
        auto = self.sync_policy.get("automated")
        return isinstance(auto, dict) and auto.get("enabled", True) is not False

    @property
    def dest_namespace(self) -> str | None:
        ns = self.destination.get("namespace")
        return str(ns) if ns else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _source(raw: Any, where: str, what: str) -> Source:
    if not isinstance(raw, dict):
        raise KustodianError(f"{what} must be a mapping", file=where)
    repo = raw.get("repoURL")
    if not isinstance(repo, str) or not repo:
        raise KustodianError(f"{what} has no repoURL", file=where,
                             hint="every Argo CD source names its repository in repoURL")
    return Source(repo_url=repo, path=_str(raw.get("path")), chart=_str(raw.get("chart")),
                  target_revision=str(raw.get("targetRevision") or "HEAD"),
                  ref=_str(raw.get("ref")), raw=raw)


def parse_application(doc: dict, where: str, parent: str | None = None) -> Application:
    """The Application model of one `kind: Application` document (a clear error if it is
    malformed: the gate never guesses what Argo CD would do with it)."""
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise KustodianError("an Application has no metadata.name", file=where)
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise KustodianError(f"Application {name} has no spec", file=where)
    sources: list[Source] = []
    hydrator = False
    if spec.get("sourceHydrator") is not None:
        hyd = spec["sourceHydrator"]
        dry = hyd.get("drySource") if isinstance(hyd, dict) else None
        sources = [_source(dry, where, f"Application {name} sourceHydrator.drySource")]
        hydrator = True
    elif spec.get("sources"):
        if not isinstance(spec["sources"], list):
            raise KustodianError(f"Application {name}: spec.sources must be a list", file=where)
        sources = [_source(s, where, f"Application {name} spec.sources[{i}]")
                   for i, s in enumerate(spec["sources"])]
    elif spec.get("source") is not None:
        sources = [_source(spec["source"], where, f"Application {name} spec.source")]
    else:
        raise KustodianError(f"Application {name} has no source, sources or sourceHydrator",
                             file=where)
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    dest = spec.get("destination") if isinstance(spec.get("destination"), dict) else {}
    sync = spec.get("syncPolicy") if isinstance(spec.get("syncPolicy"), dict) else {}
    return Application(
        name=name, namespace=_str(meta.get("namespace")),
        project=str(spec.get("project") or "default"),
        labels={str(k): str(v) for k, v in labels.items()}, destination=dest,
        sources=sources, sync_policy=sync, where=where, raw=doc, parent=parent,
        hydrator=hydrator)


# --- "this repository" ---------------------------------------------------------------------

_SCP = re.compile(r"^(?:[\w.-]+@)?([\w.-]+):(?!//)(.+)$")


def normalize_repo_url(url: str) -> str:
    """A comparable form of a git URL: scheme, user, port-less ssh, `.git` and case of the
    host dropped (`git@github.com:acme/x.git` == `https://github.com/acme/x`)."""
    text = url.strip()
    scp = _SCP.match(text)
    if scp and "://" not in text:
        host, path = scp.group(1), scp.group(2)
    else:
        text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text, flags=re.I)
        text = text.split("@", 1)[-1] if "@" in text.split("/", 1)[0] else text
        host, _, path = text.partition("/")
        host = host.split(":", 1)[0] if not host.startswith("[") else host
    path = path.strip("/")
    path = path[:-4] if path.endswith(".git") else path
    return f"{host.lower()}/{path}".rstrip("/")


def repo_urls(root: Path, configured: list[str], git: Git | None = None) -> frozenset[str]:
    """The normalized URLs that mean "this repository": the repo config's `repoURLs` plus
    the checkout's git remotes (none when `root` is not a git work tree; `git`: the run's
    Git of `root`, which has read them already)."""
    urls = {normalize_repo_url(u) for u in configured}
    from kustodian.git import remote_urls

    for url in (git.remote_urls() if git is not None else remote_urls(root)):
        if url.strip() and not url.strip().startswith(("/", ".")):
            urls.add(normalize_repo_url(url))
    return frozenset(urls)


# --- environments --------------------------------------------------------------------------

def env_rank(env: str, order: list[str]) -> int:
    """How production-like an env is (position in the promotion order; prod last)."""
    from kustodian.config import KNOWN_ENVS, canonical_env

    names = order or [canonical_env(e, []) or e for e in KNOWN_ENVS]
    return names.index(env) if env in names else -1


def token_env(name: str, order: list[str]) -> str | None:
    """The env a name's `-`/`_`/`.` separated words name (`agent-prod` -> prod); the most
    production-like one when several do."""
    from kustodian.config import infer_env

    found = {e for word in re.split(r"[-_.]", name) if word
             if (e := infer_env(word, order)) is not None}
    return max(found, key=lambda e: env_rank(e, order)) if found else None


def application_env(app: Application, source_path: str | None, config: Any
                    ) -> tuple[str | None, str]:
    """(env, where it came from) of an Application's target.

    The repo config decides when it names the Application (`applications: {name: {env}}`)
    or the source path (`overlays: {path: {env}}`). Otherwise every signal the Application
    gives counts (its `kustodian.io/env` label, the source dir name, the destination
    namespace) and the most production-like wins: a label saying `dev` on an Application
    that deploys to `agent-prod` does not make prod's rules go away.
    """
    from kustodian.config import canonical_env, infer_env

    order = config.env_order
    entry = config.applications.get(app.name) or {}
    if entry.get("env"):
        return canonical_env(str(entry["env"]), order), f"{config_name(config)} applications"
    mapped = config.mapped(source_path or "")
    if mapped.get("env"):
        return canonical_env(str(mapped["env"]), order), f"{config_name(config)} mapping"
    signals: list[tuple[str, str]] = []
    if app.labels.get(ENV_LABEL):
        signals.append((canonical_env(app.labels[ENV_LABEL], order) or "", f"label {ENV_LABEL}"))
    if source_path:
        named = infer_env(Path(source_path).name, order)
        if named:
            signals.append((named, f"dir name {Path(source_path).name}"))
    if app.dest_namespace:
        named = token_env(app.dest_namespace, order)
        if named:
            signals.append((named, f"destination namespace {app.dest_namespace}"))
    if not signals:
        return None, ""
    return max(signals, key=lambda s: env_rank(s[0], order))


def config_name(config: Any) -> str:
    return str(config.path.name) if getattr(config, "path", None) else ".kustodian.yaml"
