"""A pull request that adds a YAML merge key (`<<:`) turning on `privileged: true` in a plain
manifest dir: kubectl and Argo CD (go-yaml v2 through sigs.k8s.io/yaml) deploy the merged
value, PyYAML would keep the explicit `false`. The gate refuses merge keys; PR mode
(`--base-ref main --new-only`) refuses them as a full check does, with file, line and hint,
whether the dir is only plain manifests or also synced by an Application."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import commit_all, git, init_repo, kustodian, line_of, write_tree

URL = "https://github.com/acme/plain.git"
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: web-prod
spec:
  containers:
    - name: web
      image: ghcr.io/acme/web:1.0@sha256:{digest}
      securityContext:
        privileged: false
""".replace("{digest}", "ab" * 32)
MERGE = "        <<: {privileged: true}\n"
APPLICATION = f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
spec:
  project: default
  source:
    repoURL: {URL}
    path: manifests
    directory: {{recurse: true}}
  destination:
    server: https://kubernetes.default.svc
    namespace: web-prod
"""


@pytest.mark.parametrize("synced", [False, True], ids=["plain-dir", "synced-by-application"])
def test_pr_adding_a_merge_key_fails_as_the_full_check(tmp_path: Path, synced: bool) -> None:
    files = {".kustodian.yaml": f"repoURLs: [{URL}]\n", "manifests/web/pod.yaml": POD}
    if synced:
        files["web-app.yaml"] = APPLICATION
    repo = write_tree(tmp_path / "repo", files)
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    pod = repo / "manifests/web/pod.yaml"
    pod.write_text(pod.read_text() + MERGE)
    commit_all(repo, "privileged through a merge key")
    line = line_of(pod, "<<:")
    for args in ((), ("--base-ref", "main", "--new-only")):
        run = kustodian("check", "--no-schema", "--no-conftest", *args, cwd=repo)
        assert "Traceback" not in run.stderr, run.stderr
        out = run.stdout + run.stderr
        assert run.returncode == 2, (args, out)
        assert f"manifests/web/pod.yaml:{line}" in out, (args, out)
        assert "merge key" in out and "hint:" in out, (args, out)
