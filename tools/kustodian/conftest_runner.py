"""Run the Rego in `policies/` through the real conftest CLI and turn its results into Findings.

Interface (called by `kustodian check`):

    ConftestInput(path, kind, env=None, overlay=None, text=None)  # kind: "k8s" | "dockerfile"
    run_conftest(inputs, *, policy_dir, conftest_bin, tree=None) -> list[Finding]

- conftest starts once per input kind (k8s, dockerfile) with every file of that kind that
  has no cached result, the two in parallel, `--output json`, the policies of `policy_dir`
  (its `.rego` files but the `*_test.rego` unit tests) and the namespaces they declare:
  `dockerfile` and `dockerfile.*` for Dockerfiles, every other package except `lib.*` for
  Kubernetes inputs.
- What conftest reads: each input is written to `<stage>/<digest>/<base name>` (the digest
  over its kind, name, content, env and overlay; a render's name is the overlay's), so the
  path a policy sees as data.conftest.file is the same in every run.
- Data: `--data policy_dir` (e.g. policies/data.yaml) plus a generated JSON document
  `{"kustodian": {"inputs": {"<staged path>": {"env": ..., "overlay": ...}}}}`; Rego finds
  the env of the file under test through `data.conftest.file` (see policies/lib/k8s.rego).
- Policy cache: with `tree` (the tree under check) and KUSTODIAN_RENDER_CACHE set, each
  file's results are kept in the `policy-v1` subdir of the operator's cache dir
  (kustodian.contentstore), keyed by SHA-256 over the conftest binary's identity, the
  capabilities file's content, the whole policy dir (names and contents), the policies and
  namespaces queried, the parser, the staged path, the content, the env and the overlay;
  the stage is then `policy-v1/staged` (a temp dir otherwise). Only the results of a
  conftest exit 0/1 with a JSON list are stored, and only when the policy dir did not change
  while conftest ran; nothing is cached when the policy dir holds a symlink or special file,
  or when the capabilities allow a built-in whose result is not a function of its arguments
  (kustodian.capabilities). data.kustodian.inputs lists every file of the same conftest
  process, while a key holds the file's own entry: policies must judge a file by its own
  entry (lib.k8s.env does).
- Rules return structured results: `{"msg", "rule", "severity", "category", "remediation",
  "kind", "name", "namespace", "container"}` for Kubernetes objects, `{"msg", "rule", ...,
  "index", "instruction", "occurrence"}` for Dockerfiles: the position of the offending
  instruction in conftest's instruction list, its command, and how many instructions with
  that command precede it; they are mapped back to the instruction's line here.
  Plain string results work too: the rule id is then derived from the rule name
  (`deny_foo_bar` -> `foo-bar`) or the package.
- Kubernetes findings carry kind/namespace/name/container and env/overlay, file=None (the
  caller maps them to source lines); Dockerfile findings carry file (repository path) and line.
- A conftest failure (bad Rego, unparsable input, crash) raises KustodianError with its
  stderr, staged paths replaced by the inputs' own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from kustodian.atomicfile import write_atomic
from kustodian.capabilities import only_allowed
from kustodian.contentstore import (
    ContentStore,
    Uncacheable,
    add_tree,
    read_file,
    tool_identity,
)
from kustodian.errors import KustodianError
from kustodian.model import CATEGORIES, Finding, Severity

KINDS = ("k8s", "dockerfile")
_MAX_ARGS_CHARS = 100_000          # stay far below ARG_MAX when passing many files
_PACKAGE_RE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_ENTRIES = "policy-v1"             # the policy cache's subdir (its name versions the format)
_MAGIC = b"kustodian-policy-cache-v1 "
_STAGED = "staged"                 # inputs conftest reads, under the entries dir
_STAGED_TTL = 3600                 # staged inputs untouched this long (seconds) are removed


@dataclass
class ConftestInput:
    """One file for conftest: rendered manifests ("k8s") or a Dockerfile ("dockerfile").
    `text` is the content when it is not read from `path` (a render): `path` then only
    names it (conftest sees its base name)."""

    path: Path
    kind: str  # "k8s" | "dockerfile"
    env: str | None = None
    overlay: str | None = None
    text: str | None = None


@dataclass
class _Staged:
    """An input with its content, the path conftest reads it at, and its cache key."""

    item: ConftestInput
    content: bytes
    seen: str                        # the absolute path conftest is given
    key: str | None = None


def run_conftest(inputs: list[ConftestInput], *, policy_dir: Path, conftest_bin: str,
                 tree: Path | None = None) -> list[Finding]:
    """Evaluate `policy_dir` over `inputs` with conftest; one Finding per failure/warning.
    With `tree` (the tree under check), results come from and go to the operator's policy
    cache when KUSTODIAN_RENDER_CACHE names one (see the module doc)."""
    if not inputs:
        return []
    policy_dir = Path(policy_dir)
    if not policy_dir.is_dir():
        raise KustodianError("policy directory not found", file=str(policy_dir),
                             hint="pass the folder holding the .rego files (policies/)")
    inputs = [f for item in inputs for f in _expand(item)]
    policies = policy_files(policy_dir)
    namespaces = policy_namespaces(policy_dir, policies)
    capabilities = capabilities_file(conftest_bin)
    store = ContentStore.for_tree(tree, _ENTRIES, _MAGIC) if tree is not None else None
    fingerprint = (_fingerprint(conftest_bin, capabilities, policy_dir, policies, namespaces)
                   if store is not None else None)
    with tempfile.TemporaryDirectory(prefix="kustodian-conftest-") as tmp:
        stage_root = (store.directory / _STAGED if fingerprint is not None
                      else Path(tmp) / _STAGED)
        staged = [_stage_path(item, stage_root) for item in inputs]
        results: dict[str, list[dict]] = {}
        if fingerprint is not None:
            for s in staged:
                s.key = _key(fingerprint, s, namespaces[s.item.kind])
                cached = _cached(store, s.key)
                if cached is not None:
                    results[s.seen] = cached
        misses = {s.seen: s for s in staged if s.seen not in results}
        jobs = []
        if misses:
            _write_staged(list(misses.values()), stage_root, fingerprint is not None)
        for kind in KINDS:
            selected = [s for s in misses.values() if s.item.kind == kind]
            if selected and namespaces[kind]:
                for n, batch in enumerate(_batches(selected)):
                    data_file = Path(tmp) / f"{kind}-{n}.json"
                    data_file.write_text(json.dumps(_env_data(batch)))
                    args = _command(conftest_bin, capabilities, kind, batch, policies,
                                    policy_dir, data_file, namespaces[kind])
                    jobs.append((batch, _start(args)))
        evaluated: dict[str, list[dict]] = {}
        for batch, proc in jobs:
            evaluated.update(_by_file(batch, _collect(proc, batch)))
        if evaluated and fingerprint is not None and fingerprint == _fingerprint(
                conftest_bin, capabilities, policy_dir, policies, namespaces):
            for seen, found in evaluated.items():     # the policies did not change meanwhile
                store.put(misses[seen].key, json.dumps(found, sort_keys=True).encode())
        results.update(evaluated)
    findings: list[Finding] = []
    done: set[str] = set()
    for s in staged:
        if s.seen not in done and s.seen in results:  # an exact duplicate counts once
            done.add(s.seen)
            findings.extend(_findings(s, results[s.seen]))
    return findings


def _stage_path(item: ConftestInput, root: Path) -> _Staged:
    """The input's content and where conftest reads it: `root/<digest>/<base name>`, the
    digest over the kind, name, content, env and overlay, so the path conftest sees (and
    policies read as data.conftest.file) is the same in every run and names one input."""
    if item.text is not None:
        content = item.text.encode("utf-8", errors="surrogateescape")
    else:
        try:
            content = Path(item.path).read_bytes()
        except OSError as exc:
            raise KustodianError(f"cannot read conftest input: {exc.strerror}",
                                 file=str(item.path)) from None
    name = Path(item.path).name or "input"
    digest = hashlib.sha256(json.dumps([item.kind, name, item.env, item.overlay]).encode()
                            + b"\0" + content).hexdigest()[:32]
    return _Staged(item, content, str(root / digest / name))


def _write_staged(staged: list[_Staged], root: Path, shared: bool) -> None:
    """Write the inputs conftest reads (temp file + rename: a concurrent run may write the
    same path, with the same content). In the shared cache dir, staged inputs untouched
    for _STAGED_TTL are removed first."""
    if shared:
        _prune_staged(root)
    for s in staged:
        directory = Path(s.seen).parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(Path(s.seen), s.content, mode=0o600, temp_prefix=".tmp-")
            os.utime(directory)
        except OSError as exc:
            raise KustodianError(f"cannot write conftest's inputs: {exc.strerror}",
                                 file=s.seen, hint="the policy cache lives in "
                                 "KUSTODIAN_RENDER_CACHE: point it at a dir you can write, "
                                 "or unset it") from None


def _prune_staged(root: Path) -> None:
    try:
        listing = list(os.scandir(root))
    except OSError:
        return
    now = time.time()
    for entry in listing:
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime > _STAGED_TTL:
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue


def _fingerprint(conftest_bin: str, capabilities: str, policy_dir: Path,
                 policies: list[Path], namespaces: dict[str, list[str]]) -> str | None:
    """What every result of this run depends on besides its input: the conftest binary,
    the capabilities, the whole policy dir (every file `--policy` and `--data` can load,
    names and contents) and the queries; None when it cannot be keyed (a symlink or special
    file in the policy dir, too much to hash, impure built-ins allowed)."""
    digest = hashlib.sha256(b"kustodian policy key v1\0")
    try:
        caps = read_file(capabilities)
        if not _only_allowed(caps):
            return None
        for part in tool_identity(conftest_bin):
            digest.update(f"{part}\0".encode())
        digest.update(hashlib.sha256(caps).digest())
        root = os.path.realpath(policy_dir)
        add_tree(digest, root, [root])
    except (Uncacheable, OSError):
        return None
    names = [os.path.relpath(os.path.realpath(p), root) for p in policies]
    digest.update(json.dumps([names, namespaces], sort_keys=True).encode())
    return digest.hexdigest()


def _only_allowed(capabilities: bytes) -> bool:
    try:
        return only_allowed(json.loads(capabilities))
    except ValueError:
        return False


def _key(fingerprint: str, staged: _Staged, namespaces: list[str]) -> str:
    item = staged.item
    digest = hashlib.sha256(b"kustodian policy entry v1\0")
    digest.update(json.dumps([fingerprint, item.kind, _parser(item.kind), namespaces,
                              staged.seen, item.env, item.overlay]).encode())
    digest.update(b"\0" + hashlib.sha256(staged.content).digest())
    return digest.hexdigest()


def _cached(store: ContentStore, key: str) -> list[dict] | None:
    body = store.get(key)
    if body is None:
        return None
    try:
        results = json.loads(body)
    except ValueError:
        return None
    return results if isinstance(results, list) else None


def policy_files(policy_dir: Path) -> list[Path]:
    """The policies conftest evaluates: every `.rego` file under `policy_dir` but the unit
    tests (`*_test.rego`, for `conftest verify`). conftest given the dir would also load and
    compile the tests on every run (a quarter of a small run's CPU here) and evaluate any
    deny rule a test file declared; the gate enforces policies, not their tests."""
    return sorted(p for p in Path(policy_dir).rglob("*.rego")
                  if p.is_file() and not p.name.endswith("_test.rego"))


def policy_namespaces(policy_dir: Path,
                      files: list[Path] | None = None) -> dict[str, list[str]]:
    """The Rego packages to query per input kind (tests and `lib.*` helpers excluded)."""
    found: set[str] = set()
    for rego in policy_files(policy_dir) if files is None else files:
        try:
            text = rego.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KustodianError(f"cannot read policy: {exc}", file=str(rego)) from None
        match = _PACKAGE_RE.search(_strip_comments(text))
        if match:
            found.add(match.group(1))
    helpers = {p for p in found if p == "lib" or p.startswith("lib.")}
    docker = sorted(p for p in found if p == "dockerfile" or p.startswith("dockerfile."))
    k8s = sorted(found - helpers - set(docker))
    return {"k8s": k8s, "dockerfile": docker}


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def _expand(item: ConftestInput) -> list[ConftestInput]:
    """Check an input; a directory of Kubernetes manifests becomes its manifest files."""
    if item.kind not in KINDS:
        raise KustodianError(f"unknown conftest input kind {item.kind!r}", file=str(item.path),
                             hint=f"use one of {', '.join(KINDS)}")
    path = Path(item.path)
    if item.text is not None or path.is_file():
        return [item]
    if path.is_dir() and item.kind == "k8s":
        files = sorted(p for p in path.rglob("*") if p.is_file()
                       and p.suffix.lower() in _MANIFEST_SUFFIXES)
        return [ConftestInput(p, item.kind, item.env, item.overlay) for p in files]
    raise KustodianError("conftest input file not found", file=str(item.path))


def _batches(staged: list[_Staged]) -> Iterable[list[_Staged]]:
    """Split inputs so the command line stays short (each path names one input)."""
    batch: list[_Staged] = []
    size = 0
    for s in staged:
        if batch and size + len(s.seen) > _MAX_ARGS_CHARS:
            yield batch
            batch, size = [], 0
        batch.append(s)
        size += len(s.seen) + 1
    if batch:
        yield batch


def _env_data(batch: list[_Staged]) -> dict:
    inputs = {s.seen: {"env": s.item.env, "overlay": s.item.overlay} for s in batch}
    return {"kustodian": {"inputs": inputs}}


CAPABILITIES = "opa-capabilities.json"


def capabilities_file(conftest_bin: str) -> str:
    """The OPA capabilities installed next to conftest by `make setup` (the built-ins
    kustodian.capabilities allows: no network, clock, randomness or files), so Rego from the
    checked tree cannot reach the network or read the environment. No file, no run."""
    if not Path(conftest_bin).is_file():
        raise KustodianError(f"cannot run conftest ({conftest_bin}): no such file",
                             hint="run `make setup` to install the pinned conftest")
    path = Path(conftest_bin).resolve().parent / CAPABILITIES
    if not path.is_file():
        raise KustodianError(f"the OPA capabilities file is missing ({CAPABILITIES} next to "
                             f"{conftest_bin})", hint="run `make setup` (installs conftest "
                             "and derives the capabilities from its OPA version)")
    return str(path)


def _parser(kind: str) -> str:
    return "dockerfile" if kind == "dockerfile" else "yaml"


def _command(conftest_bin: str, capabilities: str, kind: str, batch: list[_Staged],
             policies: list[Path], policy_dir: Path, data_file: Path,
             namespaces: list[str]) -> list[str]:
    args = [conftest_bin, "test", "--no-color", "--output", "json", "--parser", _parser(kind),
            "--capabilities", capabilities]
    for policy in policies:
        args += ["--policy", str(policy)]
    args += ["--data", str(policy_dir), "--data", str(data_file)]
    for namespace in namespaces:
        args += ["--namespace", namespace]
    return args + [s.seen for s in batch]


def _start(args: list[str]) -> subprocess.Popen:
    try:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)
    except OSError as exc:
        raise KustodianError(f"cannot run conftest ({args[0]}): {exc.strerror}",
                             hint="run `make setup` to install the pinned conftest") from None


def _collect(proc: subprocess.Popen, batch: list[_Staged]) -> list[dict]:
    """conftest's JSON results; exit 1 with JSON means failures, anything else is an error
    (naming the inputs by their own paths, not where they were staged)."""
    out, err = proc.communicate()
    if proc.returncode in (0, 1):
        try:
            results = json.loads(out)
        except json.JSONDecodeError:
            results = None
        if isinstance(results, list) and all(isinstance(r, dict) for r in results):
            return results
    detail = (err or out).strip() or f"exit status {proc.returncode}"
    for s in batch:
        detail = detail.replace(s.seen, str(s.item.path))
    raise KustodianError(f"conftest failed: {detail}",
                         hint="fix the Rego (try `conftest verify --policy policies "
                              "--data policies`) or the input file named above")


def _by_file(batch: list[_Staged], results: list[dict]) -> dict[str, list[dict]]:
    """conftest's results per input of the batch (every input has a list, maybe empty)."""
    out: dict[str, list[dict]] = {s.seen: [] for s in batch}
    for result in results:
        name = result.get("filename")
        if isinstance(name, str) and name in out:
            out[name].append(result)
    return out


def _findings(staged: _Staged, results: list[dict]) -> list[Finding]:
    item = staged.item
    instructions: list[tuple[int, str]] | None = None
    findings = []
    for result in results:
        for level in ("failures", "warnings"):
            for entry in result.get(level) or []:
                if not isinstance(entry, dict):
                    continue
                finding = _finding(item, entry, level, result.get("namespace", ""))
                if item.kind == "dockerfile":
                    if instructions is None:
                        instructions = dockerfile_instructions(
                            staged.content.decode("utf-8", errors="replace"))
                    finding = _locate_in_dockerfile(finding, entry, item, instructions)
                findings.append(finding)
    return findings


def _finding(item: ConftestInput, entry: dict, level: str, namespace: str) -> Finding:
    meta = entry.get("metadata") or {}
    default = Severity.LOW if level == "warnings" else Severity.HIGH
    text = str(meta.get("severity", "")).strip().lower()
    try:
        severity = Severity.parse(_SEVERITY_ALIASES.get(text, text)) if text else default
    except ValueError:
        severity = default
    category = meta.get("category")
    return Finding(
        rule=str(meta.get("rule") or _rule_from_query(meta.get("query", ""), namespace)),
        severity=severity,
        category=category if category in CATEGORIES else "policy",
        message=str(entry.get("msg", "")),
        remediation=str(meta.get("remediation") or ""),
        env=item.env,
        kind=_text(meta.get("kind")),
        name=_text(meta.get("name")),
        namespace=_text(meta.get("namespace")),
        container=_text(meta.get("container")),
        field_path=_field(meta.get("field")),
        overlay=item.overlay,
        source="conftest",
    )


def _field(value: object) -> tuple | None:
    """A Rego finding's `field`: a list of keys and indexes, or a dotted string (whose keys
    then cannot contain dots; use the list form for label keys)."""
    if isinstance(value, list) and value and all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    text = _text(value)
    return tuple(int(p) if p.isdigit() else p for p in text.split(".")) if text else None


_SEVERITY_ALIASES = {"error": "high", "warning": "medium", "warn": "medium",
                     "moderate": "medium", "informational": "info", "note": "info"}


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _rule_from_query(query: str, namespace: str) -> str:
    """`data.main.deny_no_latest` -> `no-latest`; `data.k8s.labels.deny` -> `k8s-labels`."""
    last = query.rsplit(".", 1)[-1] if query else ""
    for prefix in ("deny_", "violation_", "warn_"):
        if last.startswith(prefix):
            return last[len(prefix):].replace("_", "-")
    return (namespace or "conftest").replace(".", "-").replace("_", "-")


def _locate_in_dockerfile(finding: Finding, entry: dict, item: ConftestInput,
                          instructions: list[tuple[int, str]]) -> Finding:
    meta = entry.get("metadata") or {}
    wanted = str(meta.get("instruction") or "").lower()
    line = None
    occurrence, index = meta.get("occurrence"), meta.get("index")
    same = [n for n, cmd in instructions if cmd == wanted]
    if wanted and isinstance(occurrence, int) and 0 <= occurrence < len(same):
        line = same[occurrence]                 # robust to how comments are counted
    elif isinstance(index, int) and 0 <= index < len(instructions):
        found_line, cmd = instructions[index]
        if not wanted or cmd == wanted:
            line = found_line
    if line is None and same:
        line = same[0]
    return replace(finding, file=repo_path(Path(item.path)), line=line or 1)


ROOT_MARKERS = (".kustodian.yaml", ".git")


def repo_path(path: Path) -> str:
    """`path` relative to its repository root (posix): the nearest dir above it holding
    .kustodian.yaml or .git, as `kustodian check` finds the root; else `path` as given.
    (A PR-mode base tree has no .git but has .kustodian.yaml, so paths match across trees.)"""
    absolute = Path(os.path.abspath(path))
    for parent in absolute.parents:
        if any((parent / marker).exists() for marker in ROOT_MARKERS):
            return absolute.relative_to(parent).as_posix()
    return path.as_posix()


def dockerfile_instructions(text: str) -> list[tuple[int, str]]:
    """(1-based start line, lower-case command) of each entry of conftest's Dockerfile input, in
    its order: the instructions as BuildKit's parser reads them (the `dockerfile` package wraps
    that very parser: directives, `# escape=`, continuations and heredocs behave as in
    conftest), each preceded by a "comment" entry per comment line BuildKit attaches to it
    (those since the previous instruction, after the last empty `#` line). A Dockerfile that
    BuildKit cannot parse has no entries (conftest reports it)."""
    import dockerfile

    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError:
        return []
    lines = text.replace("\r\n", "\n").split("\n")
    result: list[tuple[int, str]] = []
    previous_end = 0
    for command in commands:
        comments: list[int] = []
        for number in range(previous_end + 1, command.start_line):
            stripped = lines[number - 1].strip()
            if stripped.startswith("#"):             # an empty `#` drops the ones above
                comments = [*comments, number] if stripped[1:].strip() else []
        if previous_end == 0:                        # parser directives are not comments
            comments = [n for n in comments if not _is_directive(lines[n - 1])]
        result.extend((number, "comment") for number in comments)
        result.append((command.start_line, command.cmd.lower()))
        previous_end = command.end_line
    return result


def _is_directive(line: str) -> bool:
    key, sep, _ = line.strip().lstrip("#").partition("=")
    return bool(sep) and key.strip().lower() in {"syntax", "escape", "check"}
