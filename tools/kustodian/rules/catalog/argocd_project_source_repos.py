"""argocd-project-source-repos: an AppProject's sourceRepos do not let any repository in."""

from __future__ import annotations

from kustodian import argoglob
from kustodian.resources import as_list
from kustodian.rules.catalog._appproject import APPPROJECT, PROBE_HOST, is_appproject
from kustodian.rules.catalog._common import HIGH, RESOURCE, Rule, Violation


def _parts(normalized: str) -> tuple[str, str]:
    """(host, owner: the first path segment) of a normalized URL or pattern."""
    rest = normalized.split("://", 1)[1] if "://" in normalized else normalized
    host, _, path = rest.partition("/")
    return host.rsplit("@", 1)[-1], path.split("/", 1)[0]


def _host(normalized: str) -> str:
    return _parts(normalized)[0]


def _probes(patterns: list[str]) -> list[tuple[str, str]]:
    """(probe URL, what it stands for): a foreign host, and a foreign owner on each host
    the project names."""
    probes = [(f"https://{PROBE_HOST}/probe/probe.git", "any host"),
              (f"git@{PROBE_HOST}:probe/probe.git", "any host")]
    for pattern in patterns:
        host = _host(argoglob.normalize_git_url(pattern.removeprefix("!")))
        if host and not argoglob.has_wildcard(host):
            probes.append((f"https://{host}/kustodian-probe/probe.git", f"any owner on {host}"))
            probes.append((f"git@{host}:kustodian-probe/probe.git", f"any owner on {host}"))
    return probes


def check(r, ctx):
    if not is_appproject(r):
        return
    patterns = [str(p) for p in as_list(r.spec.get("sourceRepos"))]
    probes = _probes(patterns)
    for i, pattern in enumerate(patterns):
        if pattern.startswith("!"):
            continue
        host, owner = _parts(argoglob.normalize_git_url(pattern))
        wide = next((what for url, what in probes
                     if argoglob.source_entry_matches(pattern, url)
                     and argoglob.source_permitted(r.spec, url)), None)
        if wide is None and argoglob.has_wildcard(host):
            wide = f"hosts matching {host!r}"
        elif wide is None and argoglob.has_wildcard(owner):
            wide = f"owners matching {owner!r} on {host}"
        if wide is not None:
            yield Violation(f"AppProject {r.name}: spec.sourceRepos[{i}] {pattern!r} lets "
                            f"Applications deploy from {wide}", ("spec", "sourceRepos", i))


RULE = Rule(
    id="argocd-project-source-repos", severity=HIGH, category="cluster-security",
    scope=RESOURCE, kinds=APPPROJECT,
    title="AppProject sourceRepos name their repositories",
    rationale="The project's sourceRepos are what Argo CD lets its Applications deploy "
              "from. A pattern that matches any host or any owner (`*`, `**`, "
              "`https://github.com/**`, a glob in the host) lets anyone who can create an "
              "Application deploy manifests this gate never saw. Patterns are matched as "
              "Argo CD matches them (gobwas globs with `/` as separator, `!` denies).",
    remediation="List the repository URLs (or one owner's `https://host/owner/*`).",
    references=("https://argo-cd.readthedocs.io/en/stable/user-guide/projects/",),
    check=check)
