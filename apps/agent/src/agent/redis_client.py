"""Redis connections tuned for a web service: short timeouts, one quick retry, self-healing.

A dead connection (Redis restarted) fails one command, is dropped from the pool and the next
command reconnects, so the service recovers by itself when Redis comes back.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
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
