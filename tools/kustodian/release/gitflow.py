"""Git for releases: clean-tree check, one branch + one commit, push with rebase-and-retry."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.release.changes import ChangeSet

_RETRYABLE = re.compile(r"rejected|non-fast-forward|fetch first|cannot lock ref|failed to update "
                        r"ref|stale info", re.IGNORECASE)
_UNSAFE_REF = re.compile(r"[^A-Za-z0-9._/-]+")


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise KustodianError(f"git {' '.join(args[:2])} failed: {detail[-1] if detail else ''}")
    return proc


LOCK_NAME = "kustodian-release.lock"


def lock_path(root: Path) -> Path:
    """Where release commands on `root` take their lock: in the repository's common git dir
    (shared by every worktree of it), else a temp file named after the directory."""
    proc = git(root, "rev-parse", "--path-format=absolute", "--git-common-dir", check=False)
    if proc.returncode == 0 and proc.stdout.strip():
        return Path(proc.stdout.strip()) / LOCK_NAME
    digest = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"{LOCK_NAME}.{digest}"


@contextlib.contextmanager
def release_lock(root: Path) -> Iterator[None]:
    """Hold the repository's release lock, or fail at once when another command holds it.

    Without it two release commands read the same files, each writes its own version and
    one commits "bump to X" with a diff that pins Y. The lock is an flock: the kernel drops
    it when the holder exits, so a killed command never leaves a stale lock behind.
    """
    path = lock_path(root)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise KustodianError(
                f"another release command (pid {holder}) is running in this repository",
                file=str(path),
                hint="wait for it to finish and run this one again on the result") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)                # closing releases the flock


def check_fork_point(root: Path, env: str) -> None:
    """Refuse to branch a release of `env` from another environment's release branch (its
    commit would carry that env's unreviewed change along)."""
    branch = current_branch(root) or ""
    parts = branch.split("/")
    if len(parts) >= 3 and parts[0] == "release" and parts[1] != env:
        raise KustodianError(
            f"HEAD is on {branch}, a release branch of {parts[1]}: a release of {env} must "
            "not fork from it",
            hint="check out the branch the release goes to (e.g. git checkout main) first")


def ensure_repository(root: Path) -> None:
    if git(root, "rev-parse", "--is-inside-work-tree", check=False).returncode != 0:
        raise KustodianError(f"{root} is not a git working tree", hint="--commit needs git")


def dirty_paths(root: Path) -> list[str]:
    """Tracked files with staged or unstaged changes (untracked files do not count)."""
    out = git(root, "status", "--porcelain", "--untracked-files=no").stdout
    return [line[3:] for line in out.splitlines() if line.strip()]


def check_clean(root: Path, changes: ChangeSet, allow_dirty: bool) -> None:
    dirty = dirty_paths(root)
    touched = {change.rel for change in changes.files}
    if dirty and not allow_dirty:
        raise KustodianError(
            f"the working tree has uncommitted changes: {', '.join(dirty[:5])}"
            + (" ..." if len(dirty) > 5 else ""),
            hint="commit or stash them, or pass --allow-dirty (only the release files are "
                 "committed)")
    overlap = touched.intersection(dirty)
    if overlap:
        raise KustodianError(f"{', '.join(sorted(overlap))} has uncommitted changes the release "
                             "commit would include", hint="commit or stash that file first")


def current_branch(root: Path) -> str | None:
    proc = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return proc.stdout.strip() or None


def branch_name(changes: ChangeSet) -> str:
    """`release/<env>/<slug>`, e.g. release/prod/1.4.2-0123abcd4567 or release/prod/canary-25."""
    slug = _UNSAFE_REF.sub("-", changes.slug or changes.after).strip("-./")[:60] or "change"
    return f"release/{changes.env}/{slug}".replace("..", ".")


def unique_branch(root: Path, base: str) -> str:
    name, n = base, 1
    while git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}",
              check=False).returncode == 0:
        n += 1
        name = f"{base}-{n}"
    return name


def commit_message(changes: ChangeSet) -> str:
    short = changes.image.rsplit("/", 1)[-1]
    to = changes.after
    if changes.action == "bump":
        subject = f"chore(release): bump {short} to {to} in {changes.env}"
    elif changes.action == "promote":
        subject = (f"chore(release): promote {short} {to} from {changes.source_env} "
                   f"to {changes.env}")
    else:
        subject = f"chore(release): {changes.action} in {changes.env} ({changes.before} -> {to})"
    subject = changes.subject or subject
    body = "\n".join(f"- {c.rel}" for c in changes.files)
    trailers = [f"Env: {changes.env}", f"Image: {changes.image}", f"From: {changes.before}",
                f"To: {changes.after}"]
    if changes.source_env:
        trailers.append(f"Source-Env: {changes.source_env}")
    trailers += [f"{key}: {value}" for key, value in changes.trailers.items()]
    why = "".join(f"{line}\n" for line in changes.details)
    return (f"{subject}\n\n" + (f"{why}\n" if why else "") + f"Files:\n{body}\n\n"
            + "\n".join(trailers) + "\n")


def _identity(root: Path) -> list[str]:
    if git(root, "config", "user.email", check=False).stdout.strip():
        return []
    return ["-c", "user.name=kustodian", "-c", "user.email=kustodian@localhost"]


def commit(root: Path, changes: ChangeSet) -> tuple[str, str]:
    """Create a release branch from HEAD and commit exactly the changed files; (branch, sha)."""
    branch = unique_branch(root, branch_name(changes))
    git(root, "checkout", "-q", "-b", branch)
    git(root, "add", "--", *[c.rel for c in changes.files])
    verify_staged(root, changes)
    proc = subprocess.run(["git", *_identity(root), "commit", "-q", "-F", "-", "--",
                           *[c.rel for c in changes.files]],
                          cwd=root, input=commit_message(changes), text=True,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise KustodianError(f"git commit failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return branch, git(root, "rev-parse", "HEAD").stdout.strip()


def _object_id(root: Path, spec: str) -> str | None:
    proc = git(root, "rev-parse", "--verify", "--quiet", spec, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _blob_id(root: Path, rel: str, data: bytes | None) -> str | None:
    """The blob id git stores for `data` at `rel` (clean filters and eol rules applied)."""
    if data is None:
        return None
    proc = subprocess.run(["git", "hash-object", f"--path={rel}", "--stdin"], cwd=root,
                          input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        raise KustodianError(f"git hash-object failed for {rel}: {proc.stderr.decode().strip()}")
    return proc.stdout.decode().strip()


def verify_staged(root: Path, changes: ChangeSet) -> None:
    """The commit about to be made is exactly the planned one: for every file, HEAD holds
    what the plan read and the index holds what the plan wrote (the commit message is made
    from the plan). Anything else means the tree changed underneath this command."""
    for change in changes.files:
        head = _object_id(root, f"HEAD:{change.rel}")
        staged = _object_id(root, f":{change.rel}")
        if head != _blob_id(root, change.rel, change.old):
            problem = "changed in HEAD since the release was planned"
        elif staged != _blob_id(root, change.rel, change.new):
            problem = "was changed by something else after kustodian wrote it"
        else:
            continue
        raise KustodianError(
            f"{change.rel} {problem}: the commit would not match its message "
            f"({changes.action} {changes.env}: {changes.before} -> {changes.after}); "
            "nothing committed", hint="re-run the release command on the current tree")


def push(root: Path, remote: str, target: str, attempts: int = 8) -> int:
    """Rebase onto `remote/target` and push HEAD there; retry when the target moved meanwhile.

    Returns the number of attempts used. A rebase conflict aborts with a clear error.
    """
    for attempt in range(1, attempts + 1):
        fetch = git(root, "fetch", "-q", remote, target, check=False)
        if fetch.returncode == 0:
            rebase = git(root, *_identity(root), "rebase", "-q", "FETCH_HEAD", check=False)
            if rebase.returncode != 0:
                git(root, "rebase", "--abort", check=False)
                raise KustodianError(
                    f"{remote}/{target} changed the same lines meanwhile; the rebase conflicts",
                    hint="re-run the release command on the new target")
        elif "couldn't find remote ref" not in fetch.stderr:
            raise KustodianError(f"git fetch {remote} {target} failed: {fetch.stderr.strip()}")
        pushed = git(root, "push", "-q", remote, f"HEAD:refs/heads/{target}", check=False)
        if pushed.returncode == 0:
            return attempt
        if not _RETRYABLE.search(pushed.stderr):
            raise KustodianError(f"git push to {remote} {target} failed: {pushed.stderr.strip()}")
        time.sleep(random.uniform(0.05, 0.3) * attempt)
    raise KustodianError(f"{remote}/{target} kept moving: gave up after {attempts} push attempts",
                         hint="re-run the command")
