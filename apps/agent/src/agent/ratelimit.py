"""Per-API-key rate limit shared by every worker and replica, kept in Redis.

A moving window, counted exactly: a key holds the times of the last `amount` hits, newest
first; a hit is refused while the `amount`-th newest one is still inside the window, so a
burst at a window boundary cannot double the allowance. The check runs inside Redis as one
Lua function (atomic, on Redis's clock), so it can share a round trip with the work it
guards: `SessionStore.open_turn` checks the limit and loads the session in one script.

The limit string is parsed by the `limits` library, and the keys and stored values are those
of its moving-window Redis storage (`<prefix>:LIMITER/<identity>/<amount>/<multiples>/<unit>`,
a list of epoch seconds), so counts carry over from, and are shared with, a process that still
uses `limits` (e.g. during a rolling update).
"""

from __future__ import annotations

from limits import parse

from agent.errors import ApiError
from agent.redis_client import ThreadClients, run_script

KEY_PREFIX = "agent:ratelimit"

# rate_limit(key, amount, expiry seconds) -> 0 when the hit is counted, else the seconds to
# wait before the oldest hit in the window leaves it (at least 1).
LUA_FUNCTION = """
local function rate_limit(key, amount, expiry)
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
  local oldest = redis.call('LINDEX', key, amount - 1)
  if oldest and tonumber(oldest) >= now - expiry then
    return math.max(1, math.ceil(tonumber(oldest) + expiry - now))
  end
  if redis.call('LPUSH', key, now) > amount then redis.call('LTRIM', key, 0, amount - 1) end
  redis.call('EXPIRE', key, expiry)
  return 0
end
"""

_CHECK = LUA_FUNCTION + "return rate_limit(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))\n"


class RateLimiter:
    """`check(identity)` consumes one hit or raises a 429 ApiError with Retry-After."""

    def __init__(self, clients: ThreadClients, limit: str) -> None:
        self.item = parse(limit)
        self.args = (self.item.amount, self.item.get_expiry())
        self._clients = clients
        self._check = clients.shared.register_script(_CHECK)
        # identity -> key; identities are the owners of configured API keys (a few)
        self._keys: dict[str, str] = {}

    def key(self, identity: str) -> str:
        """The Redis key counting `identity`'s hits."""
        key = self._keys.get(identity)
        if key is None:
            key = self._keys[identity] = f"{KEY_PREFIX}:{self.item.key_for(identity)}"
        return key

    def check(self, identity: str) -> None:
        self.enforce(run_script(self._check, self._clients.get(), [self.key(identity)],
                                self.args))

    def enforce(self, retry_after: int) -> None:
        """Raise the 429 for a refused hit (`retry_after` > 0, as `rate_limit` returns)."""
        if retry_after:
            raise ApiError(429, "rate_limited",
                           f"rate limit of {self.item} per API key exceeded; "
                           f"retry in {retry_after}s",
                           headers={"Retry-After": str(retry_after)})
