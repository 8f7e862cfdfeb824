"""gunicorn worker that drains on SIGTERM: /readyz turns 503 at once, requests complete.

On SIGTERM the worker marks itself draining (so /readyz answers 503 immediately) and keeps
serving: for at least AGENT_DRAIN_SECONDS (default 0; time for load balancers to take the
pod out of rotation), and beyond that for as long as it still has requests in flight, up to
half of gunicorn's graceful_timeout. Then it stops accepting, gives connections it already
accepted a moment to send their request (plain gthread would drop them), and lets the
remaining requests finish within graceful_timeout. An idle worker stops at once.

This is the one module that touches gunicorn internals, because gunicorn has no public hook
for "stop accepting, but keep serving what is in flight": it reads gthread's `futures` (the
requests in flight), and unregisters the listening `sockets` from its `poller` under its
`_lock`. A gunicorn upgrade must re-run tests/agent/test_agent_lifecycle.py (SIGTERM tests).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from agent.config import load_server_settings
from agent.lifecycle import begin_draining

SETTLE_SECONDS = 0.5
POLL_SECONDS = 0.05


class DrainingThreadWorker(ThreadWorker):
    """gthread worker with a readiness-aware graceful stop."""

    _stopper: threading.Thread | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read in the master when it makes the worker (validated there before any fork).
        self.drain_seconds: float = load_server_settings().drain_seconds

    def handle_exit(self, sig: int, frame: object) -> None:
        begin_draining()
        if self._stopper is None:
            minimum = self.drain_seconds
            maximum = max(minimum, self.cfg.graceful_timeout / 2)
            self.log.info("draining: serving for %.1fs, then while busy (at most %.1fs)",
                          minimum, maximum)
            self._stopper = threading.Thread(target=self._drain, args=(minimum, maximum),
                                             name="drain", daemon=True)
            self._stopper.start()

    def _busy(self) -> bool:
        return any(not future.done() for future in list(self.futures))

    def _drain(self, minimum: float, maximum: float) -> None:
        start = time.monotonic()
        time.sleep(minimum)
        while self._busy() and time.monotonic() - start < maximum:
            time.sleep(POLL_SECONDS)
        with self._lock:  # gthread guards poller changes from other threads with this lock
            for sock in self.sockets:
                with contextlib.suppress(KeyError, ValueError):
                    self.poller.unregister(sock)
        time.sleep(SETTLE_SECONDS)
        self.alive = False
