"""bump / promote / canary on a copy of the fixture repo: results, refusals, idempotence.

Every result is checked in the file bytes and in what the real kustomize renders.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import release_helpers as yh
from release_helpers import DIGEST_A, DIGEST_B
from support.cli import commit_all, git, kustodian

STAGING = "overlays/staging/release/kustomization.yaml"
PROD = "overlays/prod/release/kustomization.yaml"
DEV = "overlays/dev/release/kustomization.yaml"
PROD_CANARY = "overlays/prod-canary/kustomization.yaml"


def ok(repo: Path, *args: str) -> str:
    proc = kustodian(*args, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def refused(repo: Path, *args: str, code: int = 2) -> str:
    before = yh.snapshot(repo)
    proc = kustodian(*args, cwd=repo)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "kustodian: error:" in proc.stderr
    assert yh.snapshot(repo) == before, "a refused command changed files"
    return proc.stderr


# ---- bump ----------------------------------------------------------------------------------

def test_bump_changes_one_line_and_renders(repo: Path) -> None:
    before = (repo / STAGING).read_bytes()
    out = ok(repo, "bump", "--env", "staging", "--tag", "1.4.2", "--digest", DIGEST_A)
    after = (repo / STAGING).read_bytes()
    assert yh.changed_lines(before, after) == [
        (b"    newTag: 1.0.0@sha256:" + b"0" * 64,
         b"    newTag: 1.4.2@" + DIGEST_A.encode())]
    assert "1.4.2" in out
    assert yh.rendered_images(repo, "overlays/staging") == {
        f"ghcr.io/acme/agent:1.4.2@{DIGEST_A}"}


def test_bump_is_idempotent(repo: Path) -> None:
    ok(repo, "bump", "--env", "dev", "--digest", DIGEST_B)
    first = (repo / DEV).read_bytes()
    out = ok(repo, "bump", "--env", "dev", "--digest", DIGEST_B)
    assert "already set" in out
    assert (repo / DEV).read_bytes() == first


def test_bump_keeps_file_mode_and_leaves_no_temp_files(repo: Path) -> None:
    path = repo / DEV
    os.chmod(path, 0o640)
    ok(repo, "bump", "--env", "dev", "--tag", "2.0.0")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["kustomization.yaml",
                                                              "settings.yaml"]


def test_dry_run_prints_diff_and_writes_nothing(repo: Path) -> None:
    before = yh.snapshot(repo)
    out = ok(repo, "bump", "--env", "dev", "--tag", "2.0.0", "--dry-run")
    assert f"+++ b/{DEV}" in out and "+    newTag: \"2.0.0\"" in out
    assert yh.snapshot(repo) == before


@pytest.mark.parametrize(("args", "message"), [
    (["--env", "qa", "--tag", "1.0.0"], "unknown environment 'qa'"),
    (["--env", "prod", "--tag", "1.0.0"], "prod requires a digest"),
    (["--env", "dev"], "give --tag, --digest, or both"),
    (["--env", "dev", "--tag", "-bad"], "invalid image tag"),
    (["--env", "dev", "--tag", "a" * 129], "invalid image tag"),
    (["--env", "dev", "--digest", "sha256:abc"], "invalid image digest"),
    (["--env", "dev", "--digest", "sha256:" + "A" * 64], "lowercase hex"),
    (["--env", "dev", "--digest", "md5"], "invalid image digest"),
    (["--env", "dev", "--image", "Ghcr.io/UPPER/agent", "--tag", "1"], "invalid image name"),
    (["--env", "dev", "--image", "ghcr.io/acme//agent", "--tag", "1"], "invalid image name"),
    (["--env", "dev", "--image", "ghcr.io/acme/other", "--tag", "1"], "is not used by"),
])
def test_bump_refusals(repo: Path, args: list[str], message: str) -> None:
    assert message in refused(repo, "bump", *args)


def test_bump_refuses_an_overlay_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "release").mkdir(parents=True)
    (outside / "kustomization.yaml").write_text("resources: []\n")
    config = (repo / ".kustodian.yaml").read_text()
    (repo / ".kustodian.yaml").write_text(config.replace("overlays/dev: {env: dev}",
                                                         "../outside: {env: dev}"))
    assert "outside the repository" in refused(repo, "bump", "--env", "dev", "--tag", "1.0.1")
    (repo / ".kustodian.yaml").write_text(config)
    # a symlinked release file pointing out of the repo is refused as well
    (repo / DEV).unlink()
    (outside / "release" / "kustomization.yaml").write_text(
        "kind: Component\nimages:\n- name: ghcr.io/acme/agent\n  newTag: x\n")
    (repo / DEV).symlink_to(outside / "release" / "kustomization.yaml")
    assert "outside the repository" in refused(repo, "bump", "--env", "dev", "--tag", "1.0.1")


def test_bump_reports_broken_yaml_with_location(repo: Path) -> None:
    (repo / DEV).write_text("images:\n  - name: [unclosed\n")
    err = refused(repo, "bump", "--env", "dev", "--tag", "1.0.1")
    assert DEV in err and "not valid YAML" in err


# ---- promote -------------------------------------------------------------------------------

def test_promote_copies_pin_and_settings(repo: Path) -> None:
    ok(repo, "bump", "--env", "dev", "--tag", "1.5.0", "--digest", DIGEST_A)
    settings = (repo / "overlays/dev/release/settings.yaml").read_bytes()
    out = ok(repo, "promote", "--from", "dev", "--to", "staging")
    assert "from dev" in out
    assert (repo / "overlays/staging/release/settings.yaml").read_bytes() == settings
    assert yh.rendered_images(repo, "overlays/staging") == {
        f"ghcr.io/acme/agent:1.5.0@{DIGEST_A}"}
    assert "already set" in ok(repo, "promote", "--from", "dev", "--to", "staging")


def test_promote_order_force_and_dry_run(repo: Path) -> None:
    err = refused(repo, "promote", "--from", "dev", "--to", "prod")
    assert "skips a stage" in err and "--force" in err
    assert "goes backwards" in refused(repo, "promote", "--from", "prod", "--to", "staging")
    assert "unknown environment" in refused(repo, "promote", "--from", "dev", "--to", "qa")
    before = yh.snapshot(repo)
    out = ok(repo, "promote", "--from", "dev", "--to", "prod", "--force", "--dry-run")
    assert f"+++ b/{PROD}" in out and "LOG_LEVEL: DEBUG" in out
    assert yh.snapshot(repo) == before
    ok(repo, "promote", "--from", "dev", "--to", "prod", "--force")
    assert "1111" in (repo / PROD).read_text()


def test_promote_to_prod_refuses_a_tag_without_digest(repo: Path) -> None:
    ok(repo, "bump", "--env", "staging", "--tag", "2.0.0")
    assert "prod requires a digest" in refused(repo, "promote", "--from", "staging",
                                               "--to", "prod")


# ---- canary --------------------------------------------------------------------------------

def test_canary_lifecycle(repo: Path) -> None:
    overlay = "overlays/prod-canary"
    assert yh.canary_state(repo, overlay) == (100, 0, 0)
    ok(repo, "canary", "start", "--env", "prod", "--digest", DIGEST_B, "--tag", "2.0.0")
    assert yh.canary_state(repo, overlay) == (90, 10, 1)
    assert f"ghcr.io/acme/agent:2.0.0@{DIGEST_B}" in yh.rendered_images(repo, overlay)
    weights = []
    for _ in range(3):
        ok(repo, "canary", "weight", "next", "--env", "prod")
        weights.append(yh.canary_state(repo, overlay)[1])
    assert weights == [25, 50, 100]
    assert "last step" in refused(repo, "canary", "weight", "next", "--env", "prod")
    ok(repo, "canary", "weight", "30", "--env", "prod")
    assert yh.canary_state(repo, overlay) == (70, 30, 1)
    ok(repo, "canary", "promote", "--env", "prod")
    assert yh.canary_state(repo, overlay) == (100, 0, 0)
    assert yh.rendered_images(repo, "overlays/prod") == {f"ghcr.io/acme/agent:2.0.0@{DIGEST_B}"}


def test_canary_abort_is_immediate_and_edits_only_the_canary_overlay(repo: Path) -> None:
    ok(repo, "canary", "start", "--env", "prod", "--digest", DIGEST_B, "--weight", "50")
    assert yh.canary_state(repo, "overlays/prod-canary") == (50, 50, 1)
    before = yh.snapshot(repo)
    ok(repo, "canary", "abort", "--env", "prod")
    after = yh.snapshot(repo)
    assert {k for k in after if after[k] != before.get(k)} == {PROD_CANARY}
    assert yh.canary_state(repo, "overlays/prod-canary") == (100, 0, 0)
    assert "already set" in ok(repo, "canary", "abort", "--env", "prod")


def test_canary_edits_are_minimal(repo: Path) -> None:
    before = (repo / PROD_CANARY).read_bytes()
    ok(repo, "canary", "start", "--env", "prod", "--digest", DIGEST_B)
    changed = yh.changed_lines(before, (repo / PROD_CANARY).read_bytes())
    assert [old.strip() for old, _ in changed] == [
        b"newTag: 1.0.0@sha256:" + b"0" * 64, b"value: 100", b"value: 0", b"value: 0"]
    assert [new.strip() for _, new in changed] == [
        b"digest: " + DIGEST_B.encode(), b"value: 90", b"value: 10", b"value: 1"]


@pytest.mark.parametrize(("args", "message"), [
    (["weight", "next", "--env", "prod"], "no canary is running"),
    (["weight", "25", "--env", "prod"], "no canary is running"),
    (["promote", "--env", "prod"], "no canary is running"),
    (["start", "--env", "prod", "--digest", "sha256:123"], "invalid image digest"),
    (["start", "--env", "dev", "--digest", DIGEST_A], "has no canary overlay"),
    (["start", "--env", "prod", "--digest", DIGEST_A, "--weight", "101"], "101"),
    (["weight", "-5", "--env", "prod"], ""),
    (["weight", "abc", "--env", "prod"], "not a weight"),
])
def test_canary_refusals(repo: Path, args: list[str], message: str) -> None:
    proc = kustodian("canary", *args, cwd=repo)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_canary_start_refuses_to_replace_a_running_canary(repo: Path) -> None:
    ok(repo, "canary", "start", "--env", "prod", "--digest", DIGEST_B)
    assert "already set" in ok(repo, "canary", "start", "--env", "prod", "--digest", DIGEST_B)
    assert "already running" in refused(repo, "canary", "start", "--env", "prod",
                                        "--digest", DIGEST_A)


def test_canary_adds_a_replicas_entry_when_the_overlay_has_none(repo: Path) -> None:
    path = repo / "overlays/staging-canary/kustomization.yaml"
    text = path.read_text()
    start = text.index("  - target:\n      kind: Deployment")
    path.write_text(text[:start])          # drop the replicas patch: the component's 1 applies
    git(repo, "commit", "-qam", "no replicas patch")
    ok(repo, "canary", "abort", "--env", "staging")
    assert yh.canary_state(repo, "overlays/staging-canary") == (100, 0, 0)
    assert path.read_text().endswith("replicas:\n  - name: agent-canary\n    count: 0\n")


INLINE_WEIGHTS = """    patch: |-
      - op: replace
        path: /spec/rules/0/backendRefs/0/weight
        value: 100
      - op: replace
        path: /spec/rules/0/backendRefs/1/weight
        value: 0"""


def _flow_ops_crlf(repo: Path) -> None:
    path = repo / PROD_CANARY
    text = path.read_text().replace(INLINE_WEIGHTS, """    patch: |
      - {op: replace, path: /spec/rules/0/backendRefs/0/weight, value: 100}   # stable
      - {op: replace, path: /spec/rules/0/backendRefs/1/weight, value: 0}     # canary
""")
    path.write_bytes(text.replace("\n", "\r\n").encode())


def _weights_in_a_file(repo: Path) -> None:
    path = repo / PROD_CANARY
    ops = "\n".join(line[6:] for line in INLINE_WEIGHTS.splitlines()[1:]) + "\n"
    (repo / "overlays/prod-canary/weights.yaml").write_text("# route weights\n" + ops)
    path.write_text(path.read_text().replace(INLINE_WEIGHTS, "    path: weights.yaml"))


@pytest.mark.parametrize("variant", [_flow_ops_crlf, _weights_in_a_file])
def test_canary_weights_in_other_styles(repo: Path, variant) -> None:
    variant(repo)
    commit_all(repo, "variant")
    before = yh.snapshot(repo)
    ok(repo, "canary", "start", "--env", "prod", "--digest", DIGEST_B, "--weight", "25")
    assert yh.canary_state(repo, "overlays/prod-canary") == (75, 25, 1)
    ok(repo, "canary", "abort", "--env", "prod")
    assert yh.canary_state(repo, "overlays/prod-canary") == (100, 0, 0)
    after = yh.snapshot(repo)
    changed = [k for k in after if after[k] != before[k]]
    assert changed == [PROD_CANARY]           # only the image pin differs after the round trip
    old, new = before[PROD_CANARY], after[PROD_CANARY]
    assert [(a.strip(), b.strip()) for a, b in yh.changed_lines(old, new)] == [
        (b"newTag: 1.0.0@sha256:" + b"0" * 64, b"digest: " + DIGEST_B.encode())]
    assert old.count(b"\r\n") == new.count(b"\r\n")
