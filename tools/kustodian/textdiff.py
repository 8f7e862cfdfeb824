"""Unified diffs of rendered manifests, in time linear in practice: `git diff --no-index`.

difflib's SequenceMatcher is quadratic on long inputs with many similar lines (a 30,000-line
generated file took 89 s), and a pull request chooses what it renders. git's xdiff (Myers with
its cost heuristics) diffs the same input in milliseconds; inputs beyond MAX_INPUT_BYTES are
not diffed at all, and the caller shows a note instead.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

from kustodian import git

MAX_INPUT_BYTES = 20_000_000
TIMEOUT_S = 60


class DiffUnavailable(Exception):
    """The diff was not computed (too large, timed out, git missing); str() says why."""


def unified(before: str, after: str, fromfile: str, tofile: str, context: int = 3
            ) -> list[str]:
    """The unified diff lines (`---`/`+++` headers, hunks) of two texts; [] when equal."""
    if before == after:
        return []
    size = len(before) + len(after)
    if size > MAX_INPUT_BYTES:
        raise DiffUnavailable(f"not diffed: {size:,} characters rendered, more than "
                              f"{MAX_INPUT_BYTES:,}")
    with tempfile.TemporaryDirectory(prefix="kustodian-diff-") as tmp:
        old, new = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        for path, text in ((old, before), (new, after)):
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(text if not text or text.endswith("\n") else text + "\n")
        try:
            proc = git.diff_files(old, new, context=context, cwd=tmp, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise DiffUnavailable(f"not diffed: the diff took more than {TIMEOUT_S}s") from None
        except OSError as exc:
            raise DiffUnavailable(f"not diffed: cannot run git ({exc.strerror})") from None
    if proc.returncode not in (0, 1):
        raise DiffUnavailable("not diffed: " + proc.stderr.decode(errors="replace").strip())
    lines = proc.stdout.decode("utf-8", errors="replace").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("@@")), len(lines))
    body = [line for line in lines[start:] if line != "\\ No newline at end of file"]
    return [f"--- {fromfile}", f"+++ {tofile}", *body] if body else []
