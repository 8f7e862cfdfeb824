"""Run the Rego in `policies/` through the real conftest CLI and turn its results into Findings.

Interface (called by `kustodian check`):

    ConftestInput(path, kind, env=None, overlay=None)   # kind: "k8s" | "dockerfile"
    run_conftest(inputs, *, policy_dir, conftest_bin) -> list[Finding]

- conftest starts once per input kind (k8s, dockerfile) with every file of that kind, the two
  in parallel, `--output json`, the policies of `policy_dir` (its `.rego` files but the
  `*_test.rego` unit tests) and the namespaces they declare: `dockerfile` and `dockerfile.*`
  for Dockerfiles, every other package except `lib.*` for Kubernetes inputs.
- Data: `--data policy_dir` (e.g. policies/data.yaml) plus a generated JSON document
  `{"kustodian": {"inputs": {"<abs path>": {"env": ..., "overlay": ...}}}}`; Rego finds the
  env of the file under test through `data.conftest.file` (see policies/lib/k8s.rego).
- Rules return structured results: `{"msg", "rule", "severity", "category", "remediation",
  "kind", "name", "namespace", "container"}` for Kubernetes objects, `{"msg", "rule", ...,
  "index", "instruction", "occurrence"}` for Dockerfiles: the position of the offending
  instruction in conftest's instruction list, its command, and how many instructions with
  that command precede it; they are mapped back to the instruction's line here.
  Plain string results work too: the rule id is then derived from the rule name
  (`deny_foo_bar` -> `foo-bar`) or the package.
- Kubernetes findings carry kind/namespace/name/container and env/overlay, file=None (the
  caller maps them to source lines); Dockerfile findings carry file (repository path) and line.
- A conftest failure (bad Rego, unparsable input, crash) raises KustodianError with its stderr.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.model import CATEGORIES, Finding, Severity

KINDS = ("k8s", "dockerfile")
_MAX_ARGS_CHARS = 100_000          # stay far below ARG_MAX when passing many files
_PACKAGE_RE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)


@dataclass
class ConftestInput:
    """One file for conftest: rendered manifests ("k8s") or a Dockerfile ("dockerfile")."""

    path: Path
    kind: str  # "k8s" | "dockerfile"
    env: str | None = None
    overlay: str | None = None


def run_conftest(inputs: list[ConftestInput], *, policy_dir: Path,
                 conftest_bin: str) -> list[Finding]:
    """Evaluate `policy_dir` over `inputs` with conftest; one Finding per failure/warning."""
    if not inputs:
        return []
    policy_dir = Path(policy_dir)
    if not policy_dir.is_dir():
        raise KustodianError("policy directory not found", file=str(policy_dir),
                             hint="pass the folder holding the .rego files (policies/)")
    inputs = [f for item in inputs for f in _expand(item)]
    policies = policy_files(policy_dir)
    namespaces = policy_namespaces(policy_dir, policies)
    with tempfile.TemporaryDirectory(prefix="kustodian-conftest-") as tmp:
        jobs = []
        for kind in KINDS:
            selected = [i for i in inputs if i.kind == kind]
            if selected and namespaces[kind]:
                for n, batch in enumerate(_batches(selected)):
                    data_file = Path(tmp) / f"{kind}-{n}.json"
                    data_file.write_text(json.dumps(_env_data(batch)))
                    args = _command(conftest_bin, kind, batch, policies, policy_dir,
                                    data_file, namespaces[kind])
                    jobs.append((batch, _start(args)))
        findings: list[Finding] = []
        for batch, proc in jobs:
            findings.extend(_findings(batch, _collect(proc)))
    return findings


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
    if path.is_file():
        return [item]
    if path.is_dir() and item.kind == "k8s":
        files = sorted(p for p in path.rglob("*") if p.is_file()
                       and p.suffix.lower() in _MANIFEST_SUFFIXES)
        return [ConftestInput(p, item.kind, item.env, item.overlay) for p in files]
    raise KustodianError("conftest input file not found", file=str(item.path))


def _batches(inputs: list[ConftestInput]) -> Iterable[list[ConftestInput]]:
    """Split inputs so a path appears once per run and the command line stays short."""
    batch: list[ConftestInput] = []
    seen: dict[str, ConftestInput] = {}
    size = 0
    for item in inputs:
        key = os.path.abspath(item.path)
        twin = seen.get(key)
        if twin is not None and (twin.env, twin.overlay) == (item.env, item.overlay):
            continue                               # exact duplicate: evaluate once
        if batch and (twin is not None or size + len(key) > _MAX_ARGS_CHARS):
            yield batch
            batch, seen, size = [], {}, 0
        batch.append(item)
        seen[key] = item
        size += len(key) + 1
    if batch:
        yield batch


def _env_data(batch: list[ConftestInput]) -> dict:
    inputs = {os.path.abspath(i.path): {"env": i.env, "overlay": i.overlay} for i in batch}
    return {"kustodian": {"inputs": inputs}}


CAPABILITIES = "opa-capabilities.json"


def capabilities_file(conftest_bin: str) -> str:
    """The OPA capabilities installed next to conftest by `make setup`: every built-in but
    http.send, net.*, opa.runtime and the other non-deterministic ones, so Rego from the
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


def _command(conftest_bin: str, kind: str, batch: list[ConftestInput], policies: list[Path],
             policy_dir: Path, data_file: Path, namespaces: list[str]) -> list[str]:
    parser = "dockerfile" if kind == "dockerfile" else "yaml"
    args = [conftest_bin, "test", "--no-color", "--output", "json", "--parser", parser,
            "--capabilities", capabilities_file(conftest_bin)]
    for policy in policies:
        args += ["--policy", str(policy)]
    args += ["--data", str(policy_dir), "--data", str(data_file)]
    for namespace in namespaces:
        args += ["--namespace", namespace]
    return args + [os.path.abspath(i.path) for i in batch]


def _start(args: list[str]) -> subprocess.Popen:
    try:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)
    except OSError as exc:
        raise KustodianError(f"cannot run conftest ({args[0]}): {exc.strerror}",
                             hint="run `make setup` to install the pinned conftest") from None


def _collect(proc: subprocess.Popen) -> list[dict]:
    """conftest's JSON results; exit 1 with JSON means failures, anything else is an error."""
    out, err = proc.communicate()
    if proc.returncode in (0, 1):
        try:
            results = json.loads(out)
        except json.JSONDecodeError:
            results = None
        if isinstance(results, list):
            return results
    detail = (err or out).strip() or f"exit status {proc.returncode}"
    raise KustodianError(f"conftest failed: {detail}",
                         hint="fix the Rego (try `conftest verify --policy policies "
                              "--data policies`) or the input file named above")


def _findings(batch: list[ConftestInput], results: list[dict]) -> list[Finding]:
    by_path = {os.path.abspath(i.path): i for i in batch}
    dockerfile_lines: dict[str, list[tuple[int, str]]] = {}
    findings = []
    for result in results:
        item = by_path.get(os.path.abspath(result.get("filename", "")))
        if item is None:
            continue
        for level in ("failures", "warnings"):
            for entry in result.get(level) or []:
                finding = _finding(item, entry, level, result.get("namespace", ""))
                if item.kind == "dockerfile":
                    key = os.path.abspath(item.path)
                    if key not in dockerfile_lines:
                        dockerfile_lines[key] = dockerfile_instructions(
                            Path(item.path).read_text(encoding="utf-8", errors="replace"))
                    finding = _locate_in_dockerfile(finding, entry, item,
                                                    dockerfile_lines[key])
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
