"""Run slices of one evaluation in forked processes (Python threads would share one core).

A forked child inherits the loaded resources, the compiled schemas and the rules without any
copying, works on its slice and sends back a pickled result through a pipe. Forking is only
used where it is safe: on POSIX, with no other thread alive (a fork copies locks held by other
threads). A child that fails, or any fork problem, makes its slice run here instead, so the
result never depends on whether forking worked.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def can_fork() -> bool:
    """True when forking this process is safe and possible."""
    return hasattr(os, "fork") and threading.active_count() == 1


def fork_map(work: Callable[[int], T], parts: int) -> list[tuple[T, bool]]:
    """`work(k)` for k in range(parts): k >= 1 in forked children, k = 0 here, all at once.

    Returns (result, ran_here) per part: ran_here is True for part 0 and for any part that had
    to run here after its child failed (its side effects then happened in this process)."""
    if parts <= 1 or not can_fork():
        return [(work(k), True) for k in range(parts)]
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()   # the children then never touch (and copy) the inherited objects' pages
    children: dict[int, tuple[int, int]] = {}   # part -> (pid, read end)
    for k in range(1, parts):
        try:
            read_end, write_end = os.pipe()
            pid = os.fork()
        except OSError:
            break
        if pid == 0:   # the child: never returns
            os.close(read_end)
            _child(work, k, write_end)
        os.close(write_end)
        children[k] = (pid, read_end)
    try:
        results: list[tuple[T, bool]] = [(work(0), True)]
        for k in range(1, parts):
            outcome = _collect(*children.pop(k)) if k in children else None
            results.append((outcome[1], False) if outcome is not None else (work(k), True))
        return results
    finally:
        for pid, read_end in children.values():   # only left when this process raised
            os.close(read_end)
            _stop(pid)
        gc.unfreeze()


def _stop(pid: int) -> None:
    """Kill and reap a child whose result is no longer wanted."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def _child(work: Callable[[int], T], k: int, write_end: int) -> None:
    status = 0
    try:
        payload = pickle.dumps(("ok", work(k)), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        payload = pickle.dumps(("failed", None))
        status = 1
    try:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
    finally:
        os._exit(status)


def _collect(pid: int, read_end: int) -> tuple[str, object] | None:
    """The child's ("ok", result), or None when it failed."""
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not payload:
        return None
    try:
        outcome = pickle.loads(payload)
    except Exception:
        return None
    return outcome if outcome[0] == "ok" else None
