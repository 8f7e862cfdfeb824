"""How to run each tool on plain YAML files and read which checks fired, file by file.

Every tool gets its most complete setting (all optional kube-score checks, every checkov
Kubernetes check, kubeconform -strict with the pinned schemas) so the comparison is fair to it.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("KUSTODIAN_BENCH_CACHE", Path.home() / ".cache" / "kustodian-bench"))
PEER_BIN = CACHE / "bin"
KUBERNETES_VERSION = "1.34.0"
CONFTEST_POLICY = REPO_ROOT / "bench" / "peers" / "conftest-policy"

Fired = dict[str, set[str]]          # file path (as given) -> check ids that fired on it


@dataclass(frozen=True)
class Tool:
    name: str
    binary: str
    build: Callable[[list[str], int], list[str]]      # (paths, jobs) -> argv
    parse: Callable[[str], Fired]
    env: tuple[tuple[str, str], ...] = ()
    renders_kustomize: bool = False
    note: str = ""

    def path(self) -> Path:
        return PEER_BIN / self.binary

    def available(self) -> bool:
        return self.path().exists()

    def version(self) -> str:
        stamp = PEER_BIN / f".{self.binary}.version"
        return stamp.read_text().strip() if stamp.exists() else "?"

    def environ(self) -> dict[str, str]:
        return {**os.environ, **dict(self.env)}



# ---------------------------------------------------------------- kube-score


def kube_score_cmd(paths: list[str], jobs: int) -> list[str]:
    return [str(PEER_BIN / "kube-score"), "score", "-o", "json", "--all-default-optional",
            "--kubernetes-version", "v" + KUBERNETES_VERSION.rsplit(".", 1)[0], *paths]


def kube_score_parse(stdout: str) -> Fired:
    fired: Fired = defaultdict(set)
    for obj in json.loads(stdout or "[]") or []:
        for check in obj.get("checks") or []:
            if not check.get("skipped") and check.get("grade", 10) < 10:
                fired[obj.get("file_name", "")].add(check["check"]["id"])
    return fired


# ---------------------------------------------------------------- checkov


def checkov_cmd(paths: list[str], jobs: int) -> list[str]:
    cmd = [str(PEER_BIN / "checkov"), "--framework", "kubernetes", "-o", "json", "--quiet",
           "--compact", "--skip-download"]
    for path in paths:
        cmd += ["-d", path] if os.path.isdir(path) else ["-f", path]
    return cmd


def checkov_parse(stdout: str) -> Fired:
    fired: Fired = defaultdict(set)
    data = json.loads(stdout or "[]")
    for report in data if isinstance(data, list) else [data]:
        if not isinstance(report, dict):
            continue
        for result in (report.get("results") or {}).get("failed_checks", []):
            fired[result.get("file_abs_path") or result.get("file_path", "")].add(
                result["check_id"])
    return fired


# ---------------------------------------------------------------- kubeconform


def kubeconform_cmd(paths: list[str], jobs: int) -> list[str]:
    schemas = CACHE / "kubeconform-schemas"
    return [str(PEER_BIN / "kubeconform"), "-strict", "-summary", "-output", "json",
            "-n", str(jobs), "-kubernetes-version", KUBERNETES_VERSION,
            "-schema-location", f"{schemas}/{{{{ .NormalizedKubernetesVersion }}}}-standalone"
            "{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-schema-location", f"{REPO_ROOT}/.cache/crds/{{{{ .Group }}}}/"
            "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json", *paths]


def kubeconform_parse(stdout: str) -> Fired:
    fired: Fired = defaultdict(set)
    for res in json.loads(stdout or "{}").get("resources") or []:
        status = res.get("status")
        if status == "statusError" and "could not find schema" in (res.get("msg") or ""):
            fired[res["filename"]].add("missing-schema")
        elif status in ("statusInvalid", "statusError"):
            fired[res["filename"]].add("invalid")
    return fired


# ---------------------------------------------------------------- conftest


def conftest_cmd(paths: list[str], jobs: int) -> list[str]:
    return [str(PEER_BIN / "conftest"), "test", "--no-color", "-o", "json",
            "-p", str(CONFTEST_POLICY), *paths]


def conftest_parse(stdout: str) -> Fired:
    fired: Fired = defaultdict(set)
    for entry in json.loads(stdout or "[]") or []:
        for failure in entry.get("failures") or []:
            fired[entry["filename"]].add(failure["msg"].split(":", 1)[0])
    return fired


# ---------------------------------------------------------------- kube-linter / polaris


def kube_linter_cmd(paths: list[str], jobs: int) -> list[str]:
    return [str(PEER_BIN / "kube-linter"), "lint", "--format", "json", "--add-all-built-in",
            *paths]


def kube_linter_parse(stdout: str) -> Fired:
    fired: Fired = defaultdict(set)
    for report in json.loads(stdout or "{}").get("Reports") or []:
        meta = report.get("Object", {}).get("Metadata", {})
        fired[meta.get("FilePath", "")].add(report.get("Check", ""))
    return fired


def polaris_cmd(paths: list[str], jobs: int) -> list[str]:
    cmd = [str(PEER_BIN / "polaris"), "audit", "--format", "json", "--only-show-failed-tests"]
    for path in paths:
        cmd += ["--audit-path", path]
    return cmd


def polaris_parse(stdout: str) -> Fired:
    fired: Fired = defaultdict(set)
    for result in json.loads(stdout or "{}").get("Results") or []:
        name = result.get("FilePath") or f"{result.get('Kind')}/{result.get('Name')}"
        checks = dict(result.get("Results") or {})
        pod = result.get("PodResult") or {}
        checks.update(pod.get("Results") or {})
        for container in pod.get("ContainerResults") or []:
            checks.update(container.get("Results") or {})
        for check_id, outcome in checks.items():
            if not outcome.get("Success", True):
                fired[name].add(check_id)
    return fired


TOOLS: dict[str, Tool] = {
    "kubeconform": Tool("kubeconform", "kubeconform", kubeconform_cmd, kubeconform_parse,
                        note="schema validation only"),
    "kube-score": Tool("kube-score", "kube-score", kube_score_cmd, kube_score_parse),
    "checkov": Tool("checkov", "checkov", checkov_cmd, checkov_parse,
                    env=(("BC_SKIP_MAPPING", "TRUE"), ("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "")),
                    renders_kustomize=True),
    "conftest": Tool("conftest", "conftest", conftest_cmd, conftest_parse,
                     note="no built-in checks: bench/peers/conftest-policy (9 rules)"),
    "kube-linter": Tool("kube-linter", "kube-linter", kube_linter_cmd, kube_linter_parse,
                        renders_kustomize=True),
    "polaris": Tool("polaris", "polaris", polaris_cmd, polaris_parse),
}

_DOC_SPLIT = re.compile(r"^---\s*$", re.M)


def count_resources(paths: list[Path]) -> int:
    """Kubernetes objects in plain YAML files (documents with a `kind:`; List items counted)."""
    total = 0
    for path in paths:
        for doc in _DOC_SPLIT.split(path.read_text()):
            if re.search(r"^kind:\s*List\s*$", doc, re.M):
                total += len(re.findall(r"^  (?:- )?kind:", doc, re.M)) or 1
            elif re.search(r"^kind:", doc, re.M):
                total += 1
    return total
