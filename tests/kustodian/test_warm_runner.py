"""support.cli.kustodian forks its runs from a warm server (tests/support/warm_server.py):
what a run prints, its exit status, its environment and working directory are those of
`python -m kustodian` started afresh, and nothing one run loads is seen by the next."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from support.cli import KUSTODIAN, kustodian, write_tree

PRIVILEGED = """\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop}
spec:
  containers:
    - name: c
      image: busybox
      securityContext: {privileged: true}
"""


def untimed(report: dict) -> dict:
    report["summary"].pop("timings")
    return report


def cold(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = subprocess.run([*KUSTODIAN, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("args", [
    ("--version",),
    ("check", "--no-conftest", "--format", "json", "pod.yaml"),
    ("check", "--no-conftest", "missing.yaml"),
    ("check", "--no-such-option"),
    ("check", "--no-conftest", "--env", "nowhere", "pod.yaml"),
], ids=["version", "findings", "missing-path", "usage", "unknown-env"])
def test_a_warm_run_is_a_cold_run(tmp_path: Path, args: tuple[str, ...]) -> None:
    root = write_tree(tmp_path, {".git/HEAD": "", "pod.yaml": PRIVILEGED})
    warm = kustodian(*args, cwd=root)
    code, stdout, stderr = cold(*args, cwd=root)
    assert (warm.returncode, warm.stderr) == (code, stderr)
    if "json" in args:   # the same report, but for how long each part took
        assert untimed(json.loads(warm.stdout)) == untimed(json.loads(stdout))
    else:
        assert warm.stdout == stdout
    assert "Traceback" not in warm.stderr


def test_each_run_sees_the_files_and_environment_of_its_own_moment(tmp_path: Path) -> None:
    """Edit a file between two runs in the same place: the second run reads the new text
    (nothing cached by path), and an environment variable reaches only the run given it."""
    root = write_tree(tmp_path, {".git/HEAD": "", "pod.yaml": PRIVILEGED})
    first = kustodian("check", "--no-conftest", "--format", "json", "pod.yaml", cwd=root)
    assert first.returncode == 1 and {f["rule"] for f in first.findings} >= {"no-privileged"}
    (root / "pod.yaml").write_text("\n\n\n" + PRIVILEGED)
    second = kustodian("check", "--no-conftest", "--format", "json", "pod.yaml", cwd=root)
    lines = {f["rule"]: f["line"] for f in second.findings}
    assert lines["no-privileged"] == {f["rule"]: f["line"] for f in first.findings}[
        "no-privileged"] + 3
    limited = kustodian("check", "--no-conftest", "--format", "json", "pod.yaml", cwd=root,
                        env={"KUSTODIAN_RENDER_TIMEOUT_S": "not-a-number"})
    assert (limited.returncode, limited.stderr) == cold(
        "check", "--no-conftest", "--format", "json", "pod.yaml", cwd=root,
        env={"KUSTODIAN_RENDER_TIMEOUT_S": "not-a-number"})[0::2]


def test_a_run_past_its_timeout_is_killed_like_subprocess_run(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {".git/HEAD": "", "pod.yaml": PRIVILEGED})
    with pytest.raises(subprocess.TimeoutExpired):
        kustodian("check", "--no-conftest", "pod.yaml", cwd=root, timeout=0.001)
    after = kustodian("check", "--no-conftest", "--format", "json", "pod.yaml", cwd=root)
    assert after.returncode == 1 and after.findings
