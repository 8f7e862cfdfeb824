"""The git flow of a release: clean-tree check, one branch + one commit, push with
rebase-and-retry. Every git command goes through `kustodian.git`."""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.git import Git, repository_lock
from kustodian.git import lock_path as repository_lock_path
from kustodian.release.changes import ChangeSet

_RETRYABLE = re.compile(r"rejected|non-fast-forward|fetch first|cannot lock ref|failed to update "
                        r"ref|stale info", re.IGNORECASE)
_UNSAFE_REF = re.compile(r"[^A-Za-z0-9._/-]+")
LOCK_NAME = "kustodian-release.lock"


def repository(root: Path, why: str = "--commit needs git") -> Git:
    """The git work tree holding `root`, or an error saying `why` it needs one."""
    try:
        return Git(root, hint=None, own_config=True)
    except KustodianError as exc:
        if exc.message.startswith("cannot run git"):
            raise
        raise KustodianError(f"{root} is not a git working tree", hint=why) from None


def lock_path(root: Path) -> Path:
    """Where release commands on `root` take their lock (shared by every worktree)."""
    return repository_lock_path(root, LOCK_NAME)


@contextlib.contextmanager
def release_lock(root: Path) -> Iterator[None]:
    """Hold the repository's release lock, or fail at once when another command holds it.

    Without it two release commands read the same files, each writes its own version and
    one commits "bump to X" with a diff that pins Y."""
    with repository_lock(root, LOCK_NAME, "another release command"):
        yield


def check_fork_point(git: Git, env: str) -> None:
    """Refuse to branch a release of `env` from another environment's release branch (its
    commit would carry that env's unreviewed change along)."""
    branch = git.current_branch() or ""
    parts = branch.split("/")
    if len(parts) >= 3 and parts[0] == "release" and parts[1] != env:
        raise KustodianError(
            f"HEAD is on {branch}, a release branch of {parts[1]}: a release of {env} must "
            "not fork from it",
            hint="check out the branch the release goes to (e.g. git checkout main) first")


def check_clean(git: Git, changes: ChangeSet, allow_dirty: bool) -> None:
    dirty = git.dirty_paths()
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


def branch_name(changes: ChangeSet) -> str:
    """`release/<env>/<slug>`, e.g. release/prod/1.4.2-0123abcd4567 or release/prod/canary-25."""
    slug = _UNSAFE_REF.sub("-", changes.slug or changes.after).strip("-./")[:60] or "change"
    return f"release/{changes.env}/{slug}".replace("..", ".")


def unique_branch(git: Git, base: str) -> str:
    name, n = base, 1
    while git.branch_exists(name):
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


def commit(root: Path | Git, changes: ChangeSet) -> tuple[str, str]:
    """Create a release branch from HEAD and commit exactly the changed files; (branch, sha)."""
    git = root if isinstance(root, Git) else repository(root)
    branch = unique_branch(git, branch_name(changes))
    paths = [c.rel for c in changes.files]
    git.run(["checkout", "-q", "-b", branch], what=f"create the branch {branch}")
    git.run(["add", "--", *paths], what="stage the release files")
    verify_staged(git, changes)
    return branch, git.commit_files(paths, commit_message(changes))


def verify_staged(git: Git, changes: ChangeSet) -> None:
    """The commit about to be made is exactly the planned one: for every file, HEAD holds
    what the plan read and the index holds what the plan wrote (the commit message is made
    from the plan). Anything else means the tree changed underneath this command."""
    for change in changes.files:
        head = git.file_id(change.rel)
        staged = git.file_id(change.rel, revision="")
        if head != (git.blob_id(change.rel, change.old) if change.old is not None else None):
            problem = "changed in HEAD since the release was planned"
        elif staged != git.blob_id(change.rel, change.new):
            problem = "was changed by something else after kustodian wrote it"
        else:
            continue
        raise KustodianError(
            f"{change.rel} {problem}: the commit would not match its message "
            f"({changes.action} {changes.env}: {changes.before} -> {changes.after}); "
            "nothing committed", hint="re-run the release command on the current tree")


def push(git: Git, remote: str, target: str, attempts: int = 8) -> int:
    """Rebase onto `remote/target` and push HEAD there; retry when the target moved meanwhile.

    Returns the number of attempts used. A rebase conflict aborts with a clear error.
    """
    for attempt in range(1, attempts + 1):
        fetch = git.attempt(["fetch", "-q", remote, target])
        if fetch.ok:
            rebase = git.attempt([*git.identity(), "rebase", "-q", "FETCH_HEAD"])
            if not rebase.ok:
                git.attempt(["rebase", "--abort"])
                raise KustodianError(
                    f"{remote}/{target} changed the same lines meanwhile; the rebase conflicts",
                    hint="re-run the release command on the new target")
        elif "couldn't find remote ref" not in fetch.stderr:
            raise KustodianError(f"git fetch {remote} {target} failed: {fetch.stderr.strip()}")
        pushed = git.attempt(["push", "-q", remote, f"HEAD:refs/heads/{target}"])
        if pushed.ok:
            return attempt
        if not _RETRYABLE.search(pushed.stderr):
            raise KustodianError(f"git push to {remote} {target} failed: {pushed.stderr.strip()}")
        time.sleep(random.uniform(0.05, 0.3) * attempt)
    raise KustodianError(f"{remote}/{target} kept moving: gave up after {attempts} push attempts",
                         hint="re-run the command")
