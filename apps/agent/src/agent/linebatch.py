"""Log lines written to stdout in batches (the per-request access lines).

Each write to stdout is a system call, under gunicorn's threads one that hands the GIL to
another thread and back, and in a container one that wakes the runtime's log reader: one per
request cost a message 1-2% of its CPU and `/healthz` several percent (bench/README.md "Agent
service"). A `LineBatcher` keeps the lines in memory and writes them together, in order: at
most `delay` seconds after the first waiting line (a flusher thread runs while lines keep
coming, and ends when none are left), at once when `max_chars` are waiting, and when the
process exits normally (gunicorn's graceful stop, a recycled worker, a timed-out worker's
SIGABRT). The price: a process killed outright (SIGKILL, the OOM killer) loses the lines of
its last `delay` seconds. With `delay` 0 every line is written at once, as the standard
`logging` handlers do.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from typing import TextIO

_LIVE: weakref.WeakSet[LineBatcher] = weakref.WeakSet()


class LineBatcher:
    """Lines for `stream` (default: stdout as it is when they are written), in batches."""

    def __init__(self, delay: float, max_chars: int = 64 * 1024,
                 stream: TextIO | None = None) -> None:
        self.delay = delay
        self.max_chars = max_chars
        self.stream = stream
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        """Fresh state (also in a forked child: the parent's lines are the parent's)."""
        self._lock = threading.Lock()     # guards the waiting lines
        self._io_lock = threading.Lock()  # one writer at a time, batches in order
        self._lines: list[str] = []
        self._chars = 0
        self._flusher: threading.Thread | None = None  # running while lines keep coming

    def write(self, line: str) -> None:
        """Queue `line` (with its newline); write it at once when `delay` is 0."""
        if self.delay <= 0:
            with self._io_lock:
                self._emit(line)
            return
        with self._lock:
            self._lines.append(line)
            self._chars += len(line)
            full = self._chars >= self.max_chars
            if self._flusher is None:
                flusher = threading.Thread(target=self._run, daemon=True,
                                           name="agent-log-flusher")
                try:
                    flusher.start()
                    self._flusher = flusher
                except RuntimeError:  # no thread to spare (a pids limit): write at once
                    full = True
        if full:
            self.flush()

    def flush(self) -> None:
        """Write every waiting line now."""
        with self._io_lock:
            with self._lock:
                lines, self._lines, self._chars = self._lines, [], 0
            if lines:
                self._emit("".join(lines))

    def _run(self) -> None:
        """Flush every `delay` seconds; end once a flush finds no new line behind it."""
        while True:
            time.sleep(self.delay)
            self.flush()
            with self._lock:
                if not self._lines:
                    self._flusher = None
                    return

    def _emit(self, text: str) -> None:
        stream = sys.stdout if self.stream is None else self.stream
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # closed, or its reader gone: nowhere to write
            pass


def _flush_all() -> None:
    for batcher in list(_LIVE):
        batcher.flush()


def _after_fork_in_child() -> None:
    for batcher in list(_LIVE):
        batcher._reset()


atexit.register(_flush_all)
os.register_at_fork(after_in_child=_after_fork_in_child)
