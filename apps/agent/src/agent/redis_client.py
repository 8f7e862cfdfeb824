"""Redis connections tuned for a web service: short timeouts, one quick retry, self-healing.

A dead connection (Redis restarted) fails one command, is dropped and the next command
reconnects, so the service recovers by itself when Redis comes back.

`ThreadClients` is the one seam for the request path: each thread talks to Redis through
its own client holding its own connection (redis-py's `single_connection_client`), so a
command skips the pool's checkout and release, their locks and the poll of the socket that
a checkout makes (measured: ~20 us of CPU per command, bench/README.md "Agent service").
gunicorn's gthread worker serves requests on a fixed set of threads, so this keeps one
connection per thread; a thread that ends returns its connection to the shared pool.
`run_script` runs the service's Lua scripts (registered once with redis-py) on such a client.

Over `redis://` and `unix://` the read and write timeout is kept by the kernel
(`SO_RCVTIMEO`, `SO_SNDTIMEO`) on a blocking socket, not by Python: a socket with a Python
timeout polls before every send and every receive, so a command releases the GIL four times
instead of two, and under gunicorn's threads each release can hand the GIL to another thread
(11-13% of a message's CPU in A/B runs, bench/README.md). A read or write that times out
fails the same way (redis-py raises a ConnectionError instead of a TimeoutError, and the
command is retried once); connecting keeps redis-py's timeout. `rediss://` keeps Python's
timeouts (its TLS handshake runs inside redis-py's connect).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import NoScriptError
from redis.retry import Retry


def connection_options(timeout_seconds: float) -> dict[str, object]:
    """Options for redis.from_url shared by every client of the service."""
    return {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": Retry(NoBackoff(), 1),
        "health_check_interval": 30,
    }


class _KernelTimeouts:
    """Mixin for a redis-py connection class: after connecting, the socket blocks (no Python
    timeout) and the kernel times out each read and write after `io_timeout` seconds."""

    def __init__(self, *, io_timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.io_timeout = io_timeout

    def _connect(self) -> socket.socket:
        sock = super()._connect()  # type: ignore[misc]
        seconds, fraction = divmod(self.io_timeout, 1)
        timeval = struct.pack("@ll", int(seconds), int(fraction * 1_000_000))  # struct timeval
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        return sock


class KernelTimedConnection(_KernelTimeouts, Connection):
    """TCP (`redis://`)."""


class KernelTimedUnixConnection(_KernelTimeouts, UnixDomainSocketConnection):
    """Unix socket (`unix://`)."""


_KERNEL_TIMED = {"redis": KernelTimedConnection, "unix": KernelTimedUnixConnection}


def make_redis(url: str, timeout_seconds: float) -> redis.Redis:
    options = connection_options(timeout_seconds)
    kernel_timed = _KERNEL_TIMED.get(urlparse(url).scheme)
    if kernel_timed is not None:
        options.update(connection_class=kernel_timed, socket_timeout=None,
                       io_timeout=timeout_seconds)
    return redis.Redis.from_url(url, decode_responses=True, **options)  # type: ignore[arg-type]


class ThreadClients:
    """One Redis client per thread over one connection pool; `get()` is this thread's."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.shared = make_redis(url, timeout_seconds)  # scripts are registered on this one
        self._local = threading.local()

    def get(self) -> redis.Redis:
        client = getattr(self._local, "client", None)
        if client is None:
            client = redis.Redis(connection_pool=self.shared.connection_pool,
                                 single_connection_client=True)
            self._local.client = client
        return client


def run_script(script: Script, client: redis.Redis, keys: Sequence[Any],
               args: Sequence[Any]) -> Any:
    """`script(keys, args, client)`: EVALSHA, and when Redis does not know the script
    (restarted, or its scripts flushed) SCRIPT LOAD and EVALSHA again. redis-py's `Script`
    call does the same after copying the arguments twice and running an `import` statement,
    which costs a message ~2% of its CPU (bench/README.md "Agent service")."""
    try:
        return client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        script.sha = client.script_load(script.script)
        return client.evalsha(script.sha, len(keys), *keys, *args)
