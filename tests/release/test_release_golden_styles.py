"""Golden files: `kustodian bump` on many kustomization styles changes only the pinned bytes.

Each golden/<case>.in.yaml is the dev overlay's kustomization; after the bump it must equal
golden/<case>.out.yaml byte for byte (CRLF, comments, quoting, flow style, indentation and
document markers kept), render with the real kustomize to the intended image, and a second
identical bump must be a no-op ("already set", file untouched).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import kustodian
from support.processes import require_tool

GOLDEN = Path(__file__).parent / "golden"
DIGEST = "sha256:" + "1f" * 32
BOTH = ("--tag", "1.20", "--digest", DIGEST)
IMAGE = "ghcr.io/acme/agent"
CASES = {
    "block-comments": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "single-quoted": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "flow-sequence": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "flow-items": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "crlf": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "crlf-no-images": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "no-images": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "no-images-indented-no-eol": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "digest-field": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "digest-field-digest-only": (("--digest", DIGEST), f"{IMAGE}@{DIGEST}"),
    "tag-and-digest-fields": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "multiple-images": (BOTH, f"registry.example.com/mirror/agent:1.20@{DIGEST}"),
    "document-marker": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "empty-flow-images": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "null-images": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "other-image-only": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
    "tag-only-from-pinned": (("--tag", "2.0.0"), f"{IMAGE}:2.0.0"),
    "quoted-digest-only-entry": (BOTH, f"{IMAGE}:1.20@{DIGEST}"),
}
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
        - {name: agent, image: ghcr.io/acme/agent:0.0.1}
        - {name: sidecar, image: busybox}
        - {name: cache, image: redis}
"""


def make_repo(root: Path, kustomization: bytes) -> Path:
    (root / ".kustodian.yaml").write_text(
        "environments: {order: [dev, prod]}\n"
        "overlays: {overlays/dev: {env: dev}, overlays/prod: {env: prod}}\n"
        "release: {image: ghcr.io/acme/agent}\n")
    overlay = root / "overlays" / "dev"
    overlay.mkdir(parents=True)
    (overlay / "deployment.yaml").write_text(DEPLOYMENT)
    (overlay / "kustomization.yaml").write_bytes(kustomization)
    return overlay / "kustomization.yaml"


def rendered_agent_image(overlay: Path) -> str:
    import subprocess

    out = subprocess.run([require_tool("kustomize"), "build", str(overlay)], check=True,
                         capture_output=True, text=True).stdout
    images = [line.split("image:", 1)[1].strip() for line in out.splitlines() if "image:" in line]
    return next(i for i in images if "agent" in i)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bump_golden(case: str, tmp_path: Path) -> None:
    args, image = CASES[case]
    source = (GOLDEN / f"{case}.in.yaml").read_bytes()
    expected = (GOLDEN / f"{case}.out.yaml").read_bytes()
    path = make_repo(tmp_path, source)
    proc = kustodian("bump", "--env", "dev", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert path.read_bytes() == expected
    assert rendered_agent_image(path.parent) == image
    again = kustodian("bump", "--env", "dev", *args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already set" in again.stdout
    assert path.read_bytes() == expected
    assert sorted(p.name for p in path.parent.iterdir()) == ["deployment.yaml",
                                                              "kustomization.yaml"]


def test_golden_inputs_and_outputs_differ_only_where_expected() -> None:
    """The goldens themselves: CRLF cases stay CRLF-only; every case has its expected file."""
    for case in CASES:
        source = (GOLDEN / f"{case}.in.yaml").read_bytes()
        out = (GOLDEN / f"{case}.out.yaml").read_bytes()
        if b"\r\n" in source:
            assert out.count(b"\n") == out.count(b"\r\n"), case
        assert source != out, case
