"""gunicorn worker that drains on SIGTERM: /readyz turns 503 at once, requests complete.

On SIGTERM the worker marks itself draining (so /readyz answers 503 immediately) and keeps
serving for AGENT_DRAIN_SECONDS (default 0) so load balancers can take it out of rotation.
Then it stops accepting, gives connections it already accepted a moment to send their
request (plain gthread would drop them), and lets in-flight requests finish within
gunicorn's graceful_timeout.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

from gunicorn.workers.gthread import ThreadWorker

from agent.lifecycle import begin_draining

SETTLE_SECONDS = 0.5


class DrainingThreadWorker(ThreadWorker):
    """gthread worker with a readiness-aware, optionally delayed, graceful stop."""

    _stopper: threading.Thread | None = None

    def handle_exit(self, sig: int, frame: object) -> None:
        begin_draining()
        if self._stopper is None:
            delay = float(os.environ.get("AGENT_DRAIN_SECONDS", "0") or 0)
            if delay > 0:
                self.log.info("draining for %.1fs before stopping (AGENT_DRAIN_SECONDS)", delay)
            self._stopper = threading.Thread(target=self._stop_after, args=(delay,),
                                             name="drain", daemon=True)
            self._stopper.start()

    def _stop_after(self, delay: float) -> None:
        time.sleep(delay)
        with self._lock:  # gthread guards poller changes from other threads with this lock
            for sock in self.sockets:
                with contextlib.suppress(KeyError, ValueError):
                    self.poller.unregister(sock)
        time.sleep(SETTLE_SECONDS)
        self.alive = False
