"""`.kustodian.yaml`: environments, the overlay -> env mapping, release settings and profiles.

profiles (per environment, plus `default` for every environment):

    profiles:
      default:
        disable: [rule-id, ...]          # never run these
        severity: {rule-id: low}         # override a rule's severity
      prod:
        enable: [rule-id, ...]           # run these even if the rule's own envs exclude prod
        disable: [...]
        severity: {...}

The env profile is applied on top of `default`.

kubernetes_version: "1.34"   (the cluster's version: the Pod Security policy version for pods
whose Namespace has no `pod-security.kubernetes.io/enforce-version` label; default: the
KUBERNETES_VERSION pinned in tools/setup/versions.env)

pod_kinds (custom kinds whose objects carry a pod, checked by the pod rules like a
Deployment; Prometheus & co. and Argo Rollouts are built in):

    pod_kinds:
      - kind: WebApp
        group: apps.example.com          # the API group; "*" or absent: any group
        spec: spec.podTemplate.spec      # dotted path to the pod spec
        metadata: spec.podTemplate.metadata   # optional: the pod's labels and annotations
        operator: false                  # true: an operator completes the pod, so only the
                                         # values set here are judged (Pod Security rules)

remote_resources (remote `resources:` are refused unless allowed here, see kustodian.remote):

    remote_resources:
      allow: [github.com]                # and the reference pins a commit SHA or a digest

exemptions (how far `kustodian.io/exempt` annotations may go; both optional):

    exemptions:
      max_days: 90                       # an exemption must expire within this many days
      max_per_resource: 3                # exemption lines one resource may carry

release (the release commands' settings; all optional, see docs/release.md):

    release:
      image: ghcr.io/acme/agent          # the image bump/promote move by default
      canary_image: agent-canary         # the canary Deployment's image placeholder
      canary_steps: [10, 25, 50, 100]    # increasing weights in 1..100
      canary_soak: 10m                   # durations: 90s, 10m, 1h30m, 2d or seconds
      canary_analysis: {prometheus: ..., window: 5m, ...}   # `canary analyze` options
      bluegreen_hold: 30m
      require_digest: [prod]             # envs whose pins need a digest (default: the last)
      settings_file: release/settings.yaml

ignore (paths discovery leaves out; the report lists every rule and what it matched):

    ignore:
      - path: tests/**                   # a repository-relative glob (`**`: any depth)
        reason: intentionally bad fixtures of the gate's own tests
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kustodian.errors import KustodianError
from kustodian.model import Severity
from kustodian.resources import PodSpecPath

CONFIG_NAME = ".kustodian.yaml"


@dataclass(frozen=True)
class Profile:
    """Rule selection and severity overrides for one environment."""

    enable: frozenset[str] = frozenset()
    disable: frozenset[str] = frozenset()
    severity: Mapping[str, Severity] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class ExemptionPolicy:
    """Limits on exemption annotations (see `kustodian.exemptions`)."""

    max_days: int = 90
    max_per_resource: int = 3


@dataclass(frozen=True)
class IgnoreRule:
    """A path glob discovery leaves out, with the reason the report shows."""

    path: str
    reason: str

    @property
    def pattern(self) -> re.Pattern[str]:
        return _glob_pattern(self.path)

    def matches(self, path: str) -> bool:
        return bool(self.pattern.fullmatch(path))

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


_GLOBS: dict[str, re.Pattern[str]] = {}


def _glob_pattern(glob: str) -> re.Pattern[str]:
    """A path glob as a regex: `*`/`?` within one component, `**` across components; a
    pattern naming a dir (`tests`, `tests/`) covers everything under it too."""
    if glob not in _GLOBS:
        out, i, text = [], 0, glob.strip("/")
        while i < len(text):
            if text.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            elif text.startswith("**", i):
                out.append(".*")
                i += 2
            elif text[i] == "*":
                out.append("[^/]*")
                i += 1
            elif text[i] == "?":
                out.append("[^/]")
                i += 1
            else:
                out.append(re.escape(text[i]))
                i += 1
        _GLOBS[glob] = re.compile("".join(out) + "(?:/.*)?", re.S)
    return _GLOBS[glob]


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)


def parse_duration(value: object, key: str, file: str = CONFIG_NAME) -> int:
    """`90s`, `10m`, `1h30m`, `2d` (or a number of seconds) -> seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _DURATION.fullmatch(value) if isinstance(value, str) and value else None
    if not match:
        raise KustodianError(f"{key}: {value!r} is not a duration", file=file,
                             hint="e.g. 90s, 10m, 1h30m, 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


@dataclass(frozen=True)
class ReleaseSettings:
    """`release:`: what the release commands move and at which pace (docs/release.md)."""

    image: str = ""                  # the image bump/promote move by default
    canary_image: str = ""           # the canary Deployment's image placeholder
    canary_steps: tuple[int, ...] = (10, 25, 50, 100)
    canary_soak: int = 600           # seconds at a canary step before `canary auto` moves on
    canary_analysis: Mapping[str, Any] = field(     # `canary analyze`
        default_factory=lambda: MappingProxyType({}))
    bluegreen_hold: int = 1800       # seconds from a blue-green switch to `finish`
    require_digest: tuple[str, ...] | None = None   # None: the last env of the order
    settings_file: str = "release/settings.yaml"


def _frozen(value: Any) -> Any:
    """A parsed YAML value that no caller can change: mappings read-only, lists tuples (the
    loaded configuration is shared by every `load_config` of the same text)."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class RepoConfig:
    """The parsed repository configuration (all keys optional); immutable, so that one
    parse serves every load of the same file (PR mode loads it several times)."""

    root: Path
    env_order: tuple[str, ...] = ()
    env_deploy: Mapping[str, str] = field(default_factory=dict)  # env -> overlay Argo CD syncs
    overlays: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    release: ReleaseSettings = field(default_factory=ReleaseSettings)
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    path: Path | None = None
    pod_kinds: Mapping[tuple[str, str], PodSpecPath] = field(default_factory=dict)
    exemptions: ExemptionPolicy = field(default_factory=ExemptionPolicy)
    kubernetes_version: tuple[int, int] | None = None
    targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # dir -> {env}
    applications: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> {env}
    repo_urls: tuple[str, ...] = ()   # URLs that mean "this repository"
    # `deployBranch`: the branch Argo CD deploys from; a full check stands for it too
    deploy_branches: tuple[str, ...] = ()
    # `apiserver: {namespaces: [...]}`: namespaces the platform creates (no target renders
    # them, e.g. Argo CD's own); `check --apiserver` creates them before the dry runs
    apiserver_namespaces: frozenset[str] = frozenset()
    ignore: tuple[IgnoreRule, ...] = ()
    remote_allow: frozenset[str] = frozenset()   # hosts remote resources may name (pinned)

    def ignore_rule(self, path: str) -> str | None:
        """The ignore rule (as the report shows it) that leaves out a repository-relative
        path, or None."""
        for rule in self.ignore:
            if rule.matches(path):
                return str(rule)
        return None

    def env_for(self, overlay_rel: str) -> str | None:
        """The env of a repository-relative overlay dir, from the mapping or its dir name."""
        entry = self.mapped(overlay_rel)
        if entry.get("env"):
            return str(entry["env"])
        return infer_env(Path(overlay_rel).name, self.env_order)

    def mapped(self, rel: str) -> Mapping[str, Any]:
        """The config entry of a repository-relative dir: `overlays:` (the release overlays)
        or `targets:` (other targets, e.g. Argo CD's own objects, env outside the order)."""
        key = rel.rstrip("/")
        return self.overlays.get(key) or self.targets.get(key) or {}

    def profile(self, env: str | None) -> Profile:
        """`default` merged with the env's own profile."""
        base = self.profiles.get("default", Profile())
        own = self.profiles.get(env or "", Profile())
        return Profile(enable=base.enable | own.enable, disable=(base.disable - own.enable)
                       | own.disable, severity={**base.severity, **own.severity})


KNOWN_ENVS = ("dev", "development", "test", "qa", "staging", "stage", "preprod", "prod",
              "production")
ALIASES = {"production": "prod", "prd": "prod", "stage": "staging", "stg": "staging",
           "development": "dev"}


def canonical_env(name: str | None, order: list[str]) -> str | None:
    """The env name the rules use: `production` -> `prod` unless the config names it."""
    if name is None or name in order:
        return name
    return ALIASES.get(name.lower(), name)


def infer_env(dirname: str, order: list[str]) -> str | None:
    """`prod`, `prod-canary`, `prod-eu`, `production` -> `prod` (a known env name)."""
    names = list(order) or list(KNOWN_ENVS)
    names += [alias for alias, env in ALIASES.items() if env in names or not order]
    lowered = dirname.lower()
    for env in sorted(names, key=len, reverse=True):
        if lowered == env or lowered.startswith(env + "-") or lowered.startswith(env + "_"):
            return canonical_env(ALIASES.get(env, env) if env not in order else env,
                                 list(order))
    return None


def find_root(start: Path, *, require_config: bool = False) -> Path:
    """The nearest ancestor holding `.kustodian.yaml` (else `.git`, else `start`); with
    `require_config`, no `.kustodian.yaml` at or above `start` is an error (the release
    commands need one)."""
    start = start.resolve()
    for marker in (CONFIG_NAME, ".git"):
        for candidate in (start, *start.parents):
            if (candidate / marker).exists():
                if marker == CONFIG_NAME and require_config and \
                        not (candidate / marker).is_file():
                    continue
                return candidate
        if require_config:
            raise KustodianError(f"no {CONFIG_NAME} found in {start} or any parent directory",
                                 hint="run kustodian inside the repository or pass --repo DIR")
    return start


def _str_list(value: Any, where: str, file: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KustodianError(f"{where} must be a list of rule ids", file=file)
    return frozenset(value)


def _profile(name: str, data: Any, file: str) -> Profile:
    if data is None:
        return Profile()
    if not isinstance(data, dict):
        raise KustodianError(f"profiles.{name} must be a mapping", file=file)
    unknown = set(data) - {"enable", "disable", "severity"}
    if unknown:
        raise KustodianError(f"profiles.{name}: unknown key(s) {sorted(unknown)}", file=file,
                             hint="a profile has enable, disable and severity")
    severity: dict[str, Severity] = {}
    raw = data.get("severity") or {}
    if not isinstance(raw, dict):
        raise KustodianError(f"profiles.{name}.severity must map rule ids to severities",
                             file=file)
    for rule, sev in raw.items():
        try:
            severity[str(rule)] = Severity.parse(str(sev))
        except ValueError as exc:
            raise KustodianError(f"profiles.{name}.severity.{rule}: {exc}", file=file) from None
    return Profile(enable=_str_list(data.get("enable"), f"profiles.{name}.enable", file),
                   disable=_str_list(data.get("disable"), f"profiles.{name}.disable", file),
                   severity=MappingProxyType(severity))


def _dotted(value: Any, where: str, file: str) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.strip() or any(
            not part for part in value.split(".")):
        raise KustodianError(f"{where} must be a dotted field path like spec.template.spec",
                             file=file)
    return tuple(value.split("."))


def _pod_kinds(data: Any, file: str) -> dict[tuple[str, str], PodSpecPath]:
    if data is None:
        return {}
    if not isinstance(data, list):
        raise KustodianError("pod_kinds must be a list of {kind, group, spec, metadata}",
                             file=file)
    out: dict[tuple[str, str], PodSpecPath] = {}
    for i, entry in enumerate(data):
        where = f"pod_kinds[{i}]"
        if not isinstance(entry, dict):
            raise KustodianError(f"{where} must be a mapping", file=file)
        unknown = set(entry) - {"kind", "group", "spec", "metadata", "operator"}
        if unknown:
            raise KustodianError(f"{where}: unknown key(s) {sorted(unknown)}", file=file,
                                 hint="an entry has kind, group, spec, metadata, operator")
        kind, group = entry.get("kind"), entry.get("group", "*")
        if not isinstance(kind, str) or not kind or not isinstance(group, str):
            raise KustodianError(f"{where}: kind (and group, if set) must be strings",
                                 file=file)
        spec = _dotted(entry.get("spec"), f"{where}.spec", file)
        metadata = (_dotted(entry["metadata"], f"{where}.metadata", file)
                    if entry.get("metadata") is not None else (*spec[:-1], "metadata"))
        operator = entry.get("operator", False)
        if not isinstance(operator, bool):
            raise KustodianError(f"{where}.operator must be true or false", file=file)
        out[(group, kind)] = PodSpecPath(spec, metadata, partial=operator)
    return out
def _exemption_policy(data: Any, file: str) -> ExemptionPolicy:
    if data is None:
        return ExemptionPolicy()
    if not isinstance(data, dict):
        raise KustodianError("exemptions must be a mapping (max_days, max_per_resource)",
                             file=file)
    unknown = set(data) - {"max_days", "max_per_resource"}
    if unknown:
        raise KustodianError(f"exemptions: unknown key(s) {sorted(unknown)}", file=file,
                             hint="exemptions has max_days and max_per_resource")
    values = {}
    for key, default in (("max_days", ExemptionPolicy.max_days),
                         ("max_per_resource", ExemptionPolicy.max_per_resource)):
        value = data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise KustodianError(f"exemptions.{key} must be a positive integer", file=file)
        values[key] = value
    return ExemptionPolicy(**values)


def _kubernetes_version(value: Any, file: str) -> tuple[int, int] | None:
    if value is None:
        return None
    from kustodian.rules.context import parse_version

    version = parse_version(value) if isinstance(value, str) else None
    if version is None or value.strip().lower() == "latest":
        raise KustodianError(f"kubernetes_version {value!r} is not a version like \"1.34\"",
                             file=file, hint="quote it: kubernetes_version: \"1.34\"")
    return version


def _remote_allow(data: Any, file: str) -> frozenset[str]:
    if data is None:
        return frozenset()
    allow = data.get("allow") if isinstance(data, dict) else None
    if not isinstance(data, dict) or set(data) - {"allow"} or not isinstance(
            allow or [], list) or not all(isinstance(h, str) and h for h in allow or []):
        raise KustodianError("remote_resources must be {allow: [host, ...]}", file=file,
                             hint="list the hosts remote resources may come from; each "
                                  "reference must still pin a commit SHA or a digest")
    return frozenset(h.lower() for h in allow or [])


_RELEASE_KEYS = {f: None for f in ReleaseSettings.__dataclass_fields__}


def _release_settings(data: Any, file: str) -> ReleaseSettings:
    """`release:`, each value checked (a wrong one names its key)."""
    if data is None:
        return ReleaseSettings()
    if not isinstance(data, dict):
        raise KustodianError("release must be a mapping", file=file,
                             hint=f"release has {', '.join(_RELEASE_KEYS)}")
    unknown = sorted(set(map(str, data)) - set(_RELEASE_KEYS))
    if unknown:
        raise KustodianError(f"release: unknown key(s) {unknown}", file=file,
                             hint=f"release has {', '.join(_RELEASE_KEYS)}")
    default = ReleaseSettings()
    values: dict[str, Any] = {}
    for key in ("image", "canary_image", "settings_file"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise KustodianError(f"release.{key} must be a non-empty string", file=file)
        values[key] = value or getattr(default, key)
    steps = data.get("canary_steps", list(default.canary_steps))
    if not isinstance(steps, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                              for s in steps):
        raise KustodianError("release.canary_steps must be a list of int", file=file)
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)):
        raise KustodianError("release.canary_steps must be increasing weights in 1..100",
                             file=file)
    values["canary_steps"] = tuple(steps)
    for key in ("canary_soak", "bluegreen_hold"):
        raw = data.get(key)
        values[key] = getattr(default, key) if raw is None else parse_duration(
            raw, f"release.{key}", file)
    analysis = data.get("canary_analysis") or {}
    if not isinstance(analysis, dict):
        raise KustodianError("release.canary_analysis must be a mapping", file=file,
                             hint="the options of `kustodian canary analyze`, e.g. "
                                  "{prometheus: http://..., window: 5m}")
    values["canary_analysis"] = _frozen({str(k): v for k, v in analysis.items()})
    require = data.get("require_digest")
    if require is not None and not (isinstance(require, list)
                                    and all(isinstance(e, str) for e in require)):
        raise KustodianError("release.require_digest must be a list of str", file=file,
                             hint="the envs whose image pins need a digest, e.g. [prod]")
    values["require_digest"] = tuple(require) if require is not None else None
    return ReleaseSettings(**values)


_ENTRY_TYPES = {"env": (str, "an env name"), "canary": (bool, "true or false"),
                "bluegreen": (bool, "true or false"), "stable": (str, "an overlay dir")}


def _entries(raw: Any, key: str, what: str, file: str) -> Mapping[str, Mapping[str, Any]]:
    """`overlays:` / `targets:` / `applications:`: name -> {env, ...}, the known keys typed."""
    raw = raw or {}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise KustodianError(f"{key} must map {what} to {{env: ...}}", file=file)
    for name, entry in raw.items():
        for field_name, (kind, expected) in _ENTRY_TYPES.items():
            value = entry.get(field_name)
            if value is not None and not isinstance(value, kind):
                raise KustodianError(f"{key}.{name}.{field_name} must be {expected}, not "
                                     f"{value!r}", file=file)
    return _frozen({str(k).rstrip("/"): v for k, v in raw.items()})


_LOADED: dict[str, RepoConfig] = {}


def _ignore_rules(raw: Any, file: str) -> list[IgnoreRule]:
    if raw is None:
        return []
    hint = "ignore is a list of {path: <glob>, reason: <why>}"
    if not isinstance(raw, list):
        raise KustodianError("ignore must be a list", file=file, hint=hint)
    rules = []
    for index, entry in enumerate(raw):
        if (not isinstance(entry, dict) or set(entry) != {"path", "reason"}
                or not all(isinstance(v, str) and v.strip() for v in entry.values())):
            raise KustodianError(f"ignore[{index}] must have a path glob and a reason",
                                 file=file, hint=hint)
        path = entry["path"].strip()
        if path.startswith("/") or ".." in path.split("/"):
            raise KustodianError(f"ignore[{index}].path must be repository-relative",
                                 file=file, hint=hint)
        rules.append(IgnoreRule(path, entry["reason"].strip()))
    return rules


def load_config(root: Path) -> RepoConfig:
    """Read `<root>/.kustodian.yaml`; a missing file gives the defaults.

    The result is immutable, so the parse of a given text is kept and shared (one run reads
    the file several times: repository, base and head trees in PR mode; a monorepo's can be
    thousands of lines); only `root` and `path` differ between loads."""
    path = root / CONFIG_NAME
    if not path.exists():
        return RepoConfig(root=root)
    display = str(path)
    from kustodian.yamlio import read_text

    text = read_text(path, display, root=root)
    loaded = _LOADED.get(text)
    if loaded is None:
        loaded = _parse(text, root, path, display)
        if len(_LOADED) >= 8:
            _LOADED.clear()
        _LOADED[text] = loaded
    return loaded if loaded.root == root and loaded.path == path else replace(
        loaded, root=root, path=path)


def _parse(text: str, root: Path, path: Path, display: str) -> RepoConfig:
    """The configuration of `text`, each value checked (errors name `display` and the key)."""
    from kustodian.yamlio import load_documents

    docs = load_documents(text, display)
    data = docs[0][1] if docs else {}
    if not isinstance(data, dict):
        raise KustodianError("the configuration must be a mapping", file=display)
    envs = data.get("environments") or {}
    order = envs.get("order") if isinstance(envs, dict) else None
    if order is not None and not (isinstance(order, list) and all(isinstance(e, str)
                                                                  for e in order)):
        raise KustodianError("environments.order must be a list of env names", file=display)
    deploy = envs.get("deploy") if isinstance(envs, dict) else None
    if deploy is not None and not (isinstance(deploy, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in deploy.items())):
        raise KustodianError("environments.deploy must map env names to overlay dirs",
                             file=display)
    urls = data.get("repoURLs") or []
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise KustodianError("repoURLs must be a list of git URLs (this repository's)",
                             file=display)
    branches = data.get("deployBranch") or []
    if isinstance(branches, str):
        branches = [branches]
    if not isinstance(branches, list) or not all(isinstance(b, str) and b.strip()
                                                  for b in branches):
        raise KustodianError("deployBranch must be a branch name (or a list of them): the "
                             "branch Argo CD deploys this repository from", file=display)
    profiles_raw = data.get("profiles") or {}
    if not isinstance(profiles_raw, dict):
        raise KustodianError("profiles must map env names to profiles", file=display)
    apiserver = data.get("apiserver") or {}
    namespaces = apiserver.get("namespaces") if isinstance(apiserver, dict) else None
    if not isinstance(apiserver, dict) or not (namespaces is None or (
            isinstance(namespaces, list) and all(isinstance(n, str) for n in namespaces))):
        raise KustodianError("apiserver.namespaces must be a list of namespace names",
                             file=display)
    return RepoConfig(
        root=root, env_order=tuple(order or ()),
        env_deploy=_frozen({k: v.rstrip("/") for k, v in (deploy or {}).items()}),
        apiserver_namespaces=frozenset(namespaces or ()),
        ignore=tuple(_ignore_rules(data.get("ignore"), display)),
        overlays=_entries(data.get("overlays"), "overlays", "overlay dirs", display),
        targets=_entries(data.get("targets"), "targets", "dirs", display),
        release=_release_settings(data.get("release"), display), path=path,
        pod_kinds=MappingProxyType(_pod_kinds(data.get("pod_kinds"), display)),
        kubernetes_version=_kubernetes_version(data.get("kubernetes_version"), display),
        profiles=MappingProxyType({str(k): _profile(str(k), v, display)
                                   for k, v in profiles_raw.items()}),
        applications=_entries(data.get("applications"), "applications",
                              "Argo CD Application names", display),
        repo_urls=tuple(urls), deploy_branches=tuple(b.strip() for b in branches),
        exemptions=_exemption_policy(data.get("exemptions"), display),
        remote_allow=_remote_allow(data.get("remote_resources"), display))
