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
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
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


def make_redis(url: str, timeout_seconds: float) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True,
                                **connection_options(timeout_seconds))  # type: ignore[arg-type]


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
