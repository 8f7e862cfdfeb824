"""Per-API-key rate limit shared by every worker and replica, kept in Redis.

Uses the `limits` library's moving-window strategy on its Redis storage: exact counting over
the last window, so a burst at a window boundary cannot double the allowance.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from agent.errors import ApiError
from agent.redis_client import connection_options


class RateLimiter:
    """`check(identity)` consumes one hit or raises a 429 ApiError with Retry-After."""

    def __init__(self, redis_url: str, limit: str, timeout_seconds: float) -> None:
        self.item = parse(limit)
        self.storage = RedisStorage(redis_url, key_prefix="agent:ratelimit",
                                    **connection_options(timeout_seconds))  # type: ignore[arg-type]
        self.limiter = MovingWindowRateLimiter(self.storage)

    def check(self, identity: str) -> None:
        if self.limiter.hit(self.item, identity):
            return
        reset_at, _ = self.limiter.get_window_stats(self.item, identity)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise ApiError(429, "rate_limited",
                       f"rate limit of {self.item} per API key exceeded; retry in {retry_after}s",
                       headers={"Retry-After": str(retry_after)})
