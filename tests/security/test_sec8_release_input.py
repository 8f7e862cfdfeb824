"""Threat model, point 8: release input.

The release commands (`bump`, `promote`, `canary`, `bluegreen`) write what they are given into
reviewed, committed manifests. An attacker (or a confused script) feeding them input, or two of
them running at once, must not get a commit that says one thing and does another:

- image references are checked with `fullmatch` (a `$` anchor lets `1.0\\n` through, committed
  as `newTag: "1.0\\n"`);
- digests are sha256/sha512 of the right length only: `md5:` does not satisfy an env that
  requires a digest, and the `image-digest-pinned` rule rejects such a "pin" in a manifest;
- one release command at a time per repository (a lock), and the commit is verified against
  the plan its message was written from before it is made;
- a release branch never forks from another environment's release branch;
- the files a release edits are read like every other input of the gate: bounded, regular
  files only, and refused before parsing when nested too deep or full of aliases (the
  YAML parser would recurse until the stack runs out: a traceback, not an error).

Each test drives the real CLI or the real git machinery on a scratch copy of the release
fixture repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from release.release_helpers import DIGEST_A, copy_fixture, snapshot
from support.cli import Run, git
from support.cli import kustodian as run_kustodian

MD5 = "md5:" + "0" * 32


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_fixture(tmp_path / "repo")


def kustodian(repo: Path, *args: str) -> Run:
    return run_kustodian(*args, cwd=repo)


def _refused(proc: Run, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.mark.parametrize("args", [
    ("--tag", "1.0\n"),
    ("--tag", "1.0\n\n"),
    ("--digest", DIGEST_A + "\n"),
    ("--tag", "1.0", "--digest", DIGEST_A + "\n"),
])
def test_trailing_newline_is_refused_and_nothing_is_written(repo: Path, args: tuple) -> None:
    before = snapshot(repo)
    proc = kustodian(repo, "bump", "--env", "dev", *args)
    _refused(proc, "invalid image")
    assert snapshot(repo) == before


def test_trailing_newline_in_image_name_is_refused(repo: Path) -> None:
    proc = kustodian(repo, "bump", "--env", "dev", "--image", "ghcr.io/acme/agent\n",
                     "--tag", "1.0")
    _refused(proc, "invalid image name")


@pytest.mark.parametrize("digest", [
    MD5,
    "sha1:" + "0" * 40,
    "sha256:" + "A" * 64,                # uppercase hex is not a valid sha256 digest
    "sha256:" + "0" * 63,
    "sha512:" + "0" * 64,
    "foo+bar:" + "0" * 64,
])
def test_only_full_sha256_or_sha512_digests_pin_prod(repo: Path, digest: str) -> None:
    before = snapshot(repo)
    proc = kustodian(repo, "bump", "--env", "prod", "--digest", digest)
    _refused(proc, "digest")
    assert snapshot(repo) == before


def test_sha512_digest_is_accepted(repo: Path) -> None:
    digest = "sha512:" + "e" * 128
    proc = kustodian(repo, "bump", "--env", "prod", "--digest", digest)
    assert proc.returncode == 0, proc.stderr
    assert digest in (repo / "overlays/prod/release/kustomization.yaml").read_text()


def _digest_findings(repo: Path, overlay: str) -> list[dict]:
    proc = kustodian(repo, "check", "--format", "json", overlay)
    assert proc.returncode in (0, 1), proc.stderr
    return [f for f in json.loads(proc.stdout)["findings"]
            if f["rule"] == "image-digest-pinned"]


@pytest.mark.parametrize("bogus", [MD5, "sha256:" + "0" * 12, "latest"])
def test_image_digest_pinned_rejects_an_invalid_digest(repo: Path, bogus: str) -> None:
    """A hand-written `@md5:...` (or any other non-digest after `@`) is not a prod pin."""
    path = repo / "overlays/prod/release/kustomization.yaml"
    text = path.read_text()
    assert _digest_findings(repo, "overlays/prod") == []
    pinned = [line for line in text.splitlines() if "newTag:" in line or "digest:" in line]
    assert pinned, text
    path.write_text(text.replace(pinned[0], f"    digest: {bogus}"))
    found = _digest_findings(repo, "overlays/prod")
    assert found and all("digest" in f["message"] for f in found), found


def test_a_second_release_command_is_refused_while_one_runs(repo: Path) -> None:
    """Two commands in one tree would both plan from the same files; the second one waits
    for nothing and changes nothing: it is refused while the repository lock is held."""
    from kustodian.release.gitflow import release_lock

    before = snapshot(repo)
    head = git(repo, "rev-parse", "HEAD")
    with release_lock(repo):
        proc = kustodian(repo, "bump", "--env", "dev", "--tag", "1.2.0", "--commit",
                         "--no-check")
    _refused(proc, "another release command")
    assert snapshot(repo) == before
    assert git(repo, "rev-parse", "HEAD") == head
    after = kustodian(repo, "bump", "--env", "dev", "--tag", "1.2.0", "--commit", "--no-check")
    assert after.returncode == 0, after.stderr          # the lock is gone with its holder


def test_the_lock_covers_every_worktree_of_the_repository(repo: Path, tmp_path: Path) -> None:
    from kustodian.release.gitflow import lock_path

    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "-b", "other", str(other))
    assert lock_path(repo) == lock_path(other)


def test_the_lock_leaves_no_file_behind(repo: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The holder removes its lock file: none piles up in the git dir, nor in the temp dir
    for a tree outside git; a holder's lock still refuses a second command meanwhile."""
    import tempfile

    from kustodian.errors import KustodianError
    from kustodian.release.gitflow import lock_path, release_lock

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    plain = tmp_path / "plain"
    plain.mkdir()
    for root in (repo, plain):
        with release_lock(root):
            assert lock_path(root).is_file()
            with pytest.raises(KustodianError, match="another release command"), \
                    release_lock(root):
                pass
        assert not lock_path(root).exists()
        with release_lock(root):          # a new lock file, taken at once
            assert lock_path(root).is_file()
        assert not lock_path(root).exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_commit_that_does_not_match_its_plan_is_not_made(repo: Path) -> None:
    """Another writer changes the file between kustodian's write and its commit: the commit
    would say "bump to 1.2.0" while pinning 1.1.0. It is refused; HEAD does not move."""
    from kustodian.errors import KustodianError
    from kustodian.release import gitflow
    from kustodian.release.bump import plan_bump
    from kustodian.release.config import load_config
    from kustodian.release.reference import ImageVersion

    config = load_config(repo)
    changes = plan_bump(config, "dev", config.image, ImageVersion(tag="1.2.0"))
    changes.apply()
    (rel_path,) = [c.path for c in changes.files]
    rel_path.write_text(rel_path.read_text().replace("1.2.0", "1.1.0"))
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(KustodianError, match="would not match its message"):
        gitflow.commit(repo, changes)
    assert git(repo, "rev-parse", "HEAD") == head


def test_a_commit_whose_base_moved_is_not_made(repo: Path) -> None:
    """The planned `before` was read from a tree that another commit has since changed."""
    from kustodian.errors import KustodianError
    from kustodian.release import gitflow
    from kustodian.release.bump import plan_bump
    from kustodian.release.config import load_config
    from kustodian.release.reference import ImageVersion

    config = load_config(repo)
    changes = plan_bump(config, "dev", config.image, ImageVersion(tag="1.2.0"))
    (change,) = changes.files
    change.path.write_bytes(change.old.replace(b"\n", b"\n# concurrent edit\n", 1))
    git(repo, "commit", "-qam", "someone else's commit")
    changes.apply()
    with pytest.raises(KustodianError, match="changed in HEAD"):
        gitflow.commit(repo, changes)


def test_a_release_branch_does_not_fork_from_another_envs_release_branch(repo: Path) -> None:
    first = kustodian(repo, "bump", "--env", "staging", "--tag", "1.3.0", "--commit",
                      "--no-check")
    assert first.returncode == 0, first.stderr
    staging_branch = git(repo, "symbolic-ref", "--short", "HEAD").strip()
    assert staging_branch.startswith("release/staging/")
    before = snapshot(repo)
    proc = kustodian(repo, "bump", "--env", "prod", "--tag", "1.3.0", "--digest", DIGEST_A,
                     "--commit", "--no-check")
    _refused(proc, "must not fork", "release/staging/")
    assert snapshot(repo) == before
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == staging_branch


@pytest.mark.parametrize(("rel", "payload"), [
    ("overlays/dev/release/kustomization.yaml", "x: " + "[" * 20000 + "]" * 20000 + "\n"),
    ("overlays/dev/release/kustomization.yaml",
     "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
         f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
         for p, c in zip("abcdefgh", "bcdefghi", strict=True))),
])
def test_a_hostile_release_file_is_refused_before_it_is_parsed(repo: Path, rel: str,
                                                               payload: str) -> None:
    """A pull request left the release kustomization nested 20,000 levels deep, or with an
    alias bomb (10^9 nodes once expanded): the next bump stops with the file named."""
    path = repo / rel
    path.write_text(path.read_text() + payload)
    git(repo, "commit", "-qam", "hostile")
    before = snapshot(repo)
    proc = kustodian(repo, "bump", "--env", "dev", "--tag", "1.2.0", "--no-check")
    _refused(proc, rel)
    assert snapshot(repo) == before
