"""gunicorn worker that drains on SIGTERM: /readyz turns 503 at once, requests complete.

On SIGTERM the worker marks itself draining (so /readyz answers 503 immediately), keeps
serving for AGENT_DRAIN_SECONDS (default 0) so load balancers can take it out of rotation,
then stops accepting and lets in-flight requests finish within gunicorn's graceful_timeout.
"""

from __future__ import annotations

import os
import threading

from gunicorn.workers.gthread import ThreadWorker

from agent.lifecycle import begin_draining


class DrainingThreadWorker(ThreadWorker):
    """gthread worker with a readiness-aware, optionally delayed, graceful stop."""

    _drain_timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: object) -> None:
        begin_draining()
        delay = float(os.environ.get("AGENT_DRAIN_SECONDS", "0") or 0)
        if delay <= 0:
            self.alive = False
        elif self._drain_timer is None:
            self.log.info("draining for %.1fs before stopping (AGENT_DRAIN_SECONDS)", delay)
            self._drain_timer = threading.Timer(delay, self._stop)
            self._drain_timer.daemon = True
            self._drain_timer.start()

    def _stop(self) -> None:
        self.alive = False
