"""gunicorn worker that drains on SIGTERM: /readyz turns 503 at once, requests complete.

On SIGTERM the worker marks itself draining (so /readyz answers 503 immediately), answers
with `Connection: close` from then on, and keeps serving: for at least AGENT_DRAIN_SECONDS
(default 0; time for load balancers to take the pod out of rotation), and beyond that for as
long as it still has requests in flight, up to half of gunicorn's graceful_timeout. Then it
stops accepting, reads the request of every connection it has already accepted (plain
gthread drops those: the client sees a reset), and lets the requests finish within
graceful_timeout. An idle worker stops at once.

A worker accepts a connection only while it has a thread free for it (requests in flight and
connections accepted in the last UNREAD_GRACE_SECONDS whose request is not read yet, against
GUNICORN_THREADS). A busy worker takes its listening sockets out of its loop until one of its
requests finishes (or its loop's next tick finds a thread free), so a new connection waits in
the kernel's queue for whichever worker frees a thread first. A connection that sends
nothing stops counting after the grace: idle connections cannot stop a worker from
accepting. Plain gthread accepts
as long as it is woken: a worker that won a burst of connections kept them all, their
requests queued behind its busy threads while another worker stood idle (seen with 16
keep-alive connections opened at once and two workers: all 16 on one worker in about one
run in four, at half the throughput; with a slow LLM backend, a request that waits seconds
for a thread).

"Stops accepting" is a state that `accept` checks, not a one-off change of the poller: a
SIGTERM can arrive while the worker is still loading the app, before its loop has
registered the listening sockets (seen under load: the worker then accepted a connection a
second later and exited without reading it). From that state on, a listening socket that
turns readable is taken out of the loop and this worker's copy closed, so the connection is
left to a worker that still accepts, and once every worker has closed its copy the port
refuses new connections instead of queueing them.

This is the one module that touches gunicorn internals, because gunicorn has no public hook
for "stop accepting, but keep serving what is in flight": it overrides gthread's `accept`
and `on_client_socket_readable` (to know which accepted connections have not been read
yet), `finish_request` (a thread is free again) and `murder_keepalived` (its loop's tick, at
least once a second), reads its `futures` (the requests in
flight), sets `max_keepalived` (0: every response closes its connection), and unregisters
and registers listening sockets in its `poller` under its `_lock` (and registers a socket
there that wakes its loop when the worker stops).
gunicorn is pinned; an upgrade must re-run tests/agent/test_agent_lifecycle.py.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from agent.config import load_server_settings
from agent.lifecycle import begin_draining

POLL_SECONDS = 0.02
# A client sends its request right after connecting: a connection accepted this long ago and
# still silent no longer holds a thread's place
UNREAD_GRACE_SECONDS = 1.0


class _NotingListener:
    """A listening socket that notes each connection accepted from it in `accepted`, with
    the time."""

    def __init__(self, listener: Any, accepted: dict[socket.socket, float]) -> None:
        self._listener = listener
        self._accepted = accepted

    def accept(self) -> tuple[socket.socket, Any]:
        sock, client = self._listener.accept()
        self._accepted[sock] = time.monotonic()
        return sock, client


class DrainingThreadWorker(ThreadWorker):
    """gthread worker with a readiness-aware graceful stop."""

    _stopper: threading.Thread | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read in the master when it makes the worker (validated there before any fork).
        self.drain_seconds: float = load_server_settings().drain_seconds
        self._closing = False  # set once, under _accept_lock: accept nothing from then on
        self._accept_lock = threading.Lock()
        self._unread: dict[socket.socket, float] = {}  # accepted (when), request not read
        # listening sockets taken out of the loop while every thread is busy, with their
        # callbacks (gthread's acceptors); put back when a request finishes
        self._paused: list[tuple[Any, Any]] = []

    def handle_exit(self, sig: int, frame: object) -> None:
        begin_draining()
        self.max_keepalived = 0  # gthread then closes each connection after its response
        if self._stopper is None:
            minimum = self.drain_seconds
            maximum = max(minimum, self.cfg.graceful_timeout / 2)
            self.log.info("draining: serving for %.1fs, then while busy (at most %.1fs)",
                          minimum, maximum)
            self._stopper = threading.Thread(target=self._drain, args=(minimum, maximum),
                                             name="drain", daemon=True)
            self._stopper.start()

    def accept(self, server: Any, listener: Any) -> None:
        """gthread's accept, unless this worker has stopped accepting or has no thread free
        (main thread)."""
        with self._accept_lock:
            if not self._closing:
                if self._threads_taken() >= self.cfg.threads:
                    self._pause_accepting(listener)
                    return
                super().accept(server, _NotingListener(listener, self._unread))
                return
        # gthread guards poller changes from other threads with its _lock
        with self._lock, contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(listener)
        listener.close()  # this worker's copy; gthread's own close at exit then does nothing

    def on_client_socket_readable(self, conn: Any, client: socket.socket) -> None:
        """gthread hands the connection to a thread, which reads its request (main thread:
        once it has run, the request is served even if the loop ends right after)."""
        super().on_client_socket_readable(conn, client)
        self._unread.pop(client, None)

    def finish_request(self, fs: Any) -> None:
        """gthread's, then accept again (a request thread, or the main thread): a thread is
        free."""
        super().finish_request(fs)
        self._resume_accepting()

    def murder_keepalived(self) -> None:
        """gthread's, then accept again if a thread is free (main thread, each turn of the
        loop): unread connections past their grace no longer count."""
        super().murder_keepalived()
        if self._paused and self._threads_taken() < self.cfg.threads:
            self._resume_accepting()

    def _threads_taken(self) -> int:
        """Requests in flight and connections whose request is about to be (main thread:
        the only one that changes `futures` and `_unread`)."""
        recent = time.monotonic() - UNREAD_GRACE_SECONDS
        unread = sum(1 for accepted in self._unread.values() if accepted > recent)
        return unread + self._in_flight()

    def _pause_accepting(self, listener: Any) -> None:
        with self._lock, contextlib.suppress(KeyError, ValueError):
            # counted again under the lock: a request that finished since the first count
            # has already run _resume_accepting, and would not resume this pause
            if self._threads_taken() < self.cfg.threads:
                return
            acceptor = self.poller.get_key(listener).data
            self.poller.unregister(listener)
            self._paused.append((listener, acceptor))

    def _resume_accepting(self) -> None:
        with self._lock:
            paused, self._paused = self._paused, []
            for listener, acceptor in paused:
                # (the loop may have ended meanwhile: its poller closed)
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self.poller.register(listener, selectors.EVENT_READ, acceptor)

    def _in_flight(self) -> int:
        """Requests being served (any thread: reads a copy of gthread's `futures`)."""
        return sum(1 for future in list(self.futures) if not future.done())

    def _drain(self, minimum: float, maximum: float) -> None:
        start = time.monotonic()
        time.sleep(minimum)
        while self._in_flight() and time.monotonic() - start < maximum:
            time.sleep(POLL_SECONDS)
        with self._accept_lock:  # no accept is half done: each one is in _unread already
            self._closing = True
        # Connections accepted so far get their request read (a client sends it right after
        # connecting; one that sends nothing is given up at the deadline).
        deadline = start + max(maximum, self.cfg.graceful_timeout * 0.75)
        while self._unread and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        self.alive = False
        self._wake_loop()

    def _wake_loop(self) -> None:
        """End the loop's wait for events (up to a second) so that it sees `alive` now: a
        socket that is readable at once, registered like gthread's own threads do."""
        reader, writer = socket.socketpair()
        try:
            with self._lock:
                self.poller.register(reader, selectors.EVENT_READ, lambda _sock: None)
        except (OSError, ValueError, KeyError, RuntimeError):
            return  # the loop has ended (closed poller) already
        writer.send(b"\0")
