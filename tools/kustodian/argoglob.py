"""AppProject access checks, matched the way Argo CD matches them.

Argo CD compares an Application's repository and destination with the AppProject's
`sourceRepos` and `destinations` through gobwas/glob patterns (`*` any run of characters
but the separator, `**` any run at all, `?` one character, `[a-z]`/`[!a-z]` classes,
`{a,b}` alternatives, `\\` escapes; a leading `!` denies), and its resource whitelists
through Go's `filepath.Match` (`*`, `?`, `[^...]`, no `**`). The functions below follow
`pkg/apis/application/v1alpha1/app_project_types.go` (IsSourcePermitted,
isDestinationMatched, IsGroupKindNamePermitted) and `util/git.NormalizeGitURL`, so a rule
can ask "would Argo CD let this project deploy from/to X?" for a probe X instead of
guessing from the pattern's text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_META = frozenset("*?[{\\")
_SSH_URL = re.compile(r"^(ssh://)?([^/:]*?)@[^@]+$")


class _BadPattern(ValueError):
    pass


def _gobwas_regex(pattern: str, separators: str) -> str:
    """gobwas/glob syntax as a Python regex (anchored by the caller)."""
    not_sep = f"[^{re.escape(separators)}]" if separators else "."
    pos = 0

    def parse(in_braces: bool) -> str:
        nonlocal pos
        out: list[str] = []
        alternatives: list[str] = []
        while pos < len(pattern):
            ch = pattern[pos]
            if ch == "\\":
                if pos + 1 >= len(pattern):
                    raise _BadPattern("trailing escape")
                out.append(re.escape(pattern[pos + 1]))
                pos += 2
            elif ch == "*":
                if pattern.startswith("**", pos):
                    out.append(".*")
                    pos += 2
                else:
                    out.append(f"{not_sep}*")
                    pos += 1
            elif ch == "?":
                out.append(not_sep)
                pos += 1
            elif ch == "[":
                end = pattern.find("]", pos + 2)
                if end == -1:
                    raise _BadPattern("unclosed [")
                body = pattern[pos + 1:end]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                if not body:
                    raise _BadPattern("empty class")
                items = []
                i = 0
                while i < len(body):
                    if i + 2 < len(body) and body[i + 1] == "-":
                        items.append(f"{re.escape(body[i])}-{re.escape(body[i + 2])}")
                        i += 3
                    else:
                        items.append(re.escape(body[i]))
                        i += 1
                out.append(f"[{'^' if negate else ''}{''.join(items)}]")
                pos = end + 1
            elif ch == "{":
                pos += 1
                out.append(parse(True))
            elif ch == "," and in_braces:
                alternatives.append("".join(out))
                out = []
                pos += 1
            elif ch == "}" and in_braces:
                pos += 1
                alternatives.append("".join(out))
                return "(?:" + "|".join(alternatives) + ")"
            else:
                out.append(re.escape(ch))
                pos += 1
        if in_braces:
            raise _BadPattern("unclosed {")
        return "".join(out)

    return parse(False)


@lru_cache(maxsize=4096)
def _compiled(pattern: str, separators: str) -> re.Pattern | None:
    try:
        return re.compile(_gobwas_regex(pattern, separators), re.DOTALL)
    except (_BadPattern, re.error):
        return None


def glob_match(pattern: str, text: str, separators: str = "") -> bool:
    """Argo CD's util/glob.Match: a pattern that does not compile matches nothing."""
    compiled = _compiled(pattern, separators)
    return compiled is not None and compiled.fullmatch(text) is not None


def has_wildcard(pattern: str) -> bool:
    """True when `pattern` holds an unescaped glob metacharacter."""
    return any(ch in _META and ch != "\\" for ch in re.sub(r"\\.", "", pattern))


def _filepath_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern):
                raise _BadPattern("trailing escape")
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                raise _BadPattern("unclosed [")
            body = pattern[i + 1:end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            out.append(f"[{'^' if negate else ''}{re.escape(body).replace(chr(92) + '-', '-')}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def _filepath_compiled(pattern: str) -> re.Pattern | None:
    try:
        return re.compile(_filepath_regex(pattern), re.DOTALL)
    except (_BadPattern, re.error):
        return None


def filepath_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match as Argo CD uses it (a bad pattern matches nothing)."""
    compiled = _filepath_compiled(pattern)
    return compiled is not None and compiled.fullmatch(name) is not None


def normalize_git_url(repo: str) -> str:
    """util/git.NormalizeGitURL: lower case, scp-style SSH as a path, no `.git` suffix."""
    repo = repo.strip().lower()
    if _SSH_URL.match(repo) and not repo.startswith("ssh://"):
        repo = "ssh://" + repo.replace(":", "/", 1)
    repo = repo.removesuffix(".git")
    return repo.removeprefix("ssh://")


def _is_deny(pattern: str) -> bool:
    return pattern.startswith("!")


def _glob_match(pattern: str, value: str, allow_negation: bool, separators: str = "") -> bool:
    """app_project_types.go globMatch."""
    if allow_negation and _is_deny(pattern):
        return not glob_match(pattern[1:], value, separators)
    if pattern == "*":
        return True
    return glob_match(pattern, value, separators)


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def source_permitted(spec: dict, repo_url: str) -> bool:
    """AppProject.IsSourcePermitted for one repository URL."""
    src = normalize_git_url(repo_url)
    matched_any = False
    for pattern in _strings(spec.get("sourceRepos")):
        normalized = ("!" + normalize_git_url(pattern[1:]) if _is_deny(pattern)
                      else normalize_git_url(pattern))
        if _glob_match(normalized, src, True, "/"):
            matched_any = True
        elif _is_deny(normalized):
            return False
    return matched_any


def source_entry_matches(pattern: str, repo_url: str) -> bool:
    """Whether one (non-deny) sourceRepos entry lets `repo_url` in."""
    return not _is_deny(pattern) and _glob_match(normalize_git_url(pattern),
                                                 normalize_git_url(repo_url), True, "/")


def _field(item: dict, key: str) -> str:
    value = item.get(key)
    return "" if value is None else str(value)


def destination_entry_matches(item: dict, server: str, name: str, namespace: str) -> bool:
    """Whether one destinations entry lets (server or name, namespace) in."""
    name_ok = name != "" and _glob_match(_field(item, "name"), name, True)
    server_ok = server != "" and _glob_match(_field(item, "server"), server, True)
    return (server_ok or name_ok) and _glob_match(_field(item, "namespace"), namespace, True)


def destination_permitted(spec: dict, server: str, name: str, namespace: str) -> bool:
    """AppProject.isDestinationMatched (project-scoped clusters aside)."""
    matched_any = False
    for item in _dicts(spec.get("destinations")):
        item_name, item_server, item_ns = (_field(item, k) for k in ("name", "server",
                                                                      "namespace"))
        name_ok = name != "" and _glob_match(item_name, name, True)
        server_ok = server != "" and _glob_match(item_server, server, True)
        ns_ok = _glob_match(item_ns, namespace, True)
        if (server_ok or name_ok) and ns_ok:
            matched_any = True
        elif ((not name_ok and _is_deny(item_name))
              or (not server_ok and _is_deny(item_server) and ns_ok)
              or (not ns_ok and _is_deny(item_ns) and server_ok)):
            return False
    return matched_any


def resource_entry_matches(item: dict, group: str, kind: str) -> bool:
    """isResourceInList for one whitelist entry."""
    return (filepath_match(_field(item, "kind"), kind)
            and filepath_match(_field(item, "group"), group))


def kind_permitted(spec: dict, group: str, kind: str, *, namespaced: bool) -> bool:
    """AppProject.IsGroupKindNamePermitted (resource names aside)."""
    if namespaced:
        white = spec.get("namespaceResourceWhitelist")
        black = _dicts(spec.get("namespaceResourceBlacklist"))
        white_ok = white is None or any(resource_entry_matches(i, group, kind)
                                        for i in _dicts(white))
    else:
        black = _dicts(spec.get("clusterResourceBlacklist"))
        white_ok = any(resource_entry_matches(i, group, kind)
                       for i in _dicts(spec.get("clusterResourceWhitelist")))
    return white_ok and not any(resource_entry_matches(i, group, kind) for i in black)
