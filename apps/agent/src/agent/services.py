"""The long-lived collaborators of one app instance, built once from `Settings`."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from agent.auth import KeyRing
from agent.backends import Backend, make_backend
from agent.config import Settings
from agent.ratelimit import RateLimiter
from agent.redis_client import ThreadClients, make_redis
from agent.sessions import SessionStore


@dataclass
class Services:
    settings: Settings
    redis: ThreadClients
    probe_redis: redis.Redis
    sessions: SessionStore
    limiter: RateLimiter
    keys: KeyRing
    backend: Backend

    @classmethod
    def build(cls, settings: Settings) -> Services:
        client = ThreadClients(settings.redis_url, settings.redis_timeout_seconds)
        return cls(
            settings=settings,
            redis=client,
            probe_redis=make_redis(settings.redis_url, settings.ready_timeout_seconds),
            sessions=SessionStore(client, settings.session_ttl_seconds,
                                  settings.history_max_messages),
            limiter=RateLimiter(client, settings.rate_limit),
            keys=KeyRing(settings.api_keys, settings.api_keys_file,
                         settings.api_keys_check_seconds),
            backend=make_backend(settings),
        )


def services() -> Services:
    """The services of the app handling the current request."""
    return current_app.extensions["agent"]
