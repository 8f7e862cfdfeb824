"""--commit / --pr-body / --push with real git: one commit per release, policy gate, races.

The policy gate is the real check pipeline (in process); pushes go to a real bare repo.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import release_helpers as rh
from release_helpers import DIGEST_A, DIGEST_B, DIGEST_C
from support.cli import KUSTODIAN, git, kustodian

DEV = "overlays/dev/release/kustomization.yaml"


def commits(repo: Path, rev: str = "HEAD") -> list[str]:
    return git(repo, "log", "--format=%H", rev).split()


def test_commit_makes_one_branch_and_one_conventional_commit(repo: Path) -> None:
    base = commits(repo)
    proc = kustodian("bump", "--env", "dev", "--tag", "1.6.0", "--digest", DIGEST_A,
                     "--commit", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    branch = git(repo, "symbolic-ref", "--short", "HEAD").strip()
    assert branch == "release/dev/1.6.0-aaaaaaaaaaaa"   # tag and short digest
    assert commits(repo)[1:] == base
    subject, *_ = git(repo, "log", "-1", "--format=%B").splitlines()
    assert subject == f"chore(release): bump agent to 1.6.0@{DIGEST_A} in dev"
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)").strip().splitlines()
    assert trailers == ["Env: dev", "Image: ghcr.io/acme/agent",
                        "From: 1.1.0@sha256:" + "1" * 64, f"To: 1.6.0@{DIGEST_A}"]
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == [DEV]
    assert git(repo, "status", "--porcelain") == ""


def test_already_set_makes_no_commit(repo: Path) -> None:
    base = commits(repo)
    proc = kustodian("bump", "--env", "dev", "--tag", "1.1.0", "--digest",
                     "sha256:" + "1" * 64, "--commit", cwd=repo)
    assert proc.returncode == 0 and "already set" in proc.stdout
    assert commits(repo) == base
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"


def test_dirty_tree_is_refused_unless_allowed(repo: Path) -> None:
    readme = repo / "base" / "service.yaml"
    readme.write_text(readme.read_text() + "# local edit\n")
    proc = kustodian("bump", "--env", "dev", "--tag", "1.7.0", "--commit", cwd=repo)
    assert proc.returncode == 2 and "uncommitted changes" in proc.stderr
    assert "--allow-dirty" in proc.stderr
    assert git(repo, "status", "--porcelain").split() == ["M", "base/service.yaml"]
    proc = kustodian("bump", "--env", "dev", "--tag", "1.7.0", "--commit", "--allow-dirty",
                     "--no-check", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == [DEV]
    assert git(repo, "status", "--porcelain").split() == ["M", "base/service.yaml"]
    # a dirty release file itself is never swept into the commit
    (repo / DEV).write_text((repo / DEV).read_text() + "# hand edit\n")
    proc = kustodian("bump", "--env", "dev", "--tag", "1.8.0", "--commit", "--allow-dirty",
                     cwd=repo)
    assert proc.returncode == 2 and "has uncommitted changes" in proc.stderr


def test_policy_gate_refuses_a_change_that_adds_findings(repo: Path) -> None:
    before = rh.snapshot(repo)
    base = commits(repo)
    proc = kustodian("bump", "--env", "dev", "--tag", "latest", "--commit", cwd=repo)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "adds" in proc.stderr and "image-tag-pinned" in proc.stderr
    assert rh.snapshot(repo) == before
    assert commits(repo) == base
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]


def test_pr_body_shows_what_moves_rendered_diff_and_policy(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "work")
    kustodian("bump", "--env", "staging", "--tag", "1.9.0", "--digest", DIGEST_C,
              "--commit", cwd=repo)
    git(repo, "checkout", "-q", "work")
    git(repo, "merge", "-q", "--ff-only", "-")
    body = tmp_path / "body.md"
    proc = kustodian("promote", "--from", "staging", "--to", "prod", "--commit",
                     "--pr-body", str(body), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    text = body.read_text()
    assert "## Release: promote `ghcr.io/acme/agent` in **prod**" in text
    assert "| verified in | `staging` |" in text
    assert f"| to | `1.9.0@{DIGEST_C}` |" in text
    assert "### Rendered diff" in text and "<code>overlays/prod</code>" in text
    assert f"+        image: ghcr.io/acme/agent:1.9.0@{DIGEST_C}" in text
    assert "<code>overlays/prod-canary</code>" in text
    assert "added by this change: 0" in text and "no new findings" in text
    subject = git(repo, "log", "-1", "--format=%s")
    assert subject.strip() == f"chore(release): promote agent 1.9.0@{DIGEST_C} from staging to prod"


# ---- push: the target moves meanwhile ------------------------------------------------------

def remote_with_clones(tmp_path: Path, names: list[str]) -> tuple[Path, list[Path]]:
    seed = rh.copy_fixture(tmp_path / "seed")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))
    clones = []
    for name in names:
        clone = tmp_path / name
        git(tmp_path, "clone", "-q", str(remote), str(clone))
        git(clone, "config", "user.name", name)
        git(clone, "config", "user.email", f"{name}@example.com")
        clones.append(clone)
    return remote, clones


def test_push_rebases_and_retries_when_the_target_moved(tmp_path: Path) -> None:
    remote, (first, second) = remote_with_clones(tmp_path, ["first", "second"])
    assert kustodian("bump", "--env", "staging", "--tag", "2.1.0", "--commit",
                     "--no-check", cwd=first).returncode == 0
    # between the second clone's fetch and its push, the first clone lands its commit
    hook = second / ".git" / "hooks" / "pre-push"
    marker = tmp_path / "raced"
    hook.write_text(f"#!/bin/sh\n[ -e '{marker}' ] && exit 0\ntouch '{marker}'\n"
                    f"cd '{first}' && unset GIT_DIR && git push -q origin HEAD:main\n")
    hook.chmod(0o755)
    proc = kustodian("bump", "--env", "dev", "--tag", "2.2.0", "--commit", "--push",
                     "--no-check", cwd=second)
    assert proc.returncode == 0, proc.stderr
    assert "after 2 attempts" in proc.stdout
    log = git(remote, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["chore(release): bump agent to 2.2.0 in dev",
                       "chore(release): bump agent to 2.1.0 in staging"]


def test_concurrent_bumps_of_different_envs_all_land(tmp_path: Path) -> None:
    remote, clones = remote_with_clones(tmp_path, ["a", "b", "c"])
    jobs = [
        ["bump", "--env", "dev", "--tag", "3.0.0", "--digest", DIGEST_A],
        ["bump", "--env", "staging", "--tag", "3.0.1", "--digest", DIGEST_B],
        ["canary", "start", "--env", "prod", "--digest", DIGEST_C],
    ]
    procs = [subprocess.Popen([*KUSTODIAN, *args, "--commit", "--push", "--no-check"], cwd=clone,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for clone, args in zip(clones, jobs, strict=True)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    subjects = git(remote, "log", "--format=%s", "main").splitlines()
    assert len(subjects) == 4
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(remote), str(check))
    assert f"3.0.0@{DIGEST_A}" in (check / DEV).read_text()
    staging = check / "overlays/staging/release/kustomization.yaml"
    assert f"3.0.1@{DIGEST_B}" in staging.read_text()
    assert rh.canary_state(check, "overlays/prod-canary") == (90, 10, 1)


def test_push_conflict_on_the_same_file_is_a_clear_error(tmp_path: Path) -> None:
    remote, (first, second) = remote_with_clones(tmp_path, ["first", "second"])
    assert kustodian("bump", "--env", "dev", "--tag", "4.0.0", "--commit", "--push",
                     "--no-check", cwd=first).returncode == 0
    proc = kustodian("bump", "--env", "dev", "--tag", "4.0.1", "--commit", "--push",
                     "--no-check", cwd=second)
    assert proc.returncode == 2 and "conflicts" in proc.stderr and "Traceback" not in proc.stderr
    assert git(remote, "log", "-1", "--format=%s", "main").strip() == (
        "chore(release): bump agent to 4.0.0 in dev")
    assert git(second, "status", "--porcelain") == ""


def test_push_needs_commit(repo: Path) -> None:
    proc = kustodian("bump", "--env", "dev", "--tag", "5.0.0", "--push", cwd=repo)
    assert proc.returncode == 2 and "--push needs --commit" in proc.stderr
