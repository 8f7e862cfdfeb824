"""Sessions in Redis: metadata, a capped message history and remembered facts, all with TTL.

Keys (hash-tagged by session id): `agent:s:{id}:meta` (hash: owner, created_at),
`agent:s:{id}:messages` (list of JSON messages, newest last, capped), `agent:s:{id}:memory`
(hash of facts). `agent:sessions` is a sorted set id -> expiry time (epoch seconds, rounded
up), used to count live sessions.

Each Redis call of a message is one Lua script. A turn whose reply depends on the session
takes two round trips: `open_turn` counts the caller's rate limit and loads the session's
owner, facts and only the last messages the backend reads; `append_turn` then writes the turn
(user message + reply + facts) atomically, and only if the session still exists, so a failed
or concurrently deleted turn never leaves half a write. A turn whose reply needs nothing from
the session takes one: `write_turn` counts the rate limit, checks the owner and appends, all
atomically. History is appended and trimmed in Redis, never read back whole to add a message.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis

from agent import jsoncodec
from agent.jsonlog import utc_iso
from agent.ratelimit import LUA_FUNCTION, RateLimiter
from agent.redis_client import ThreadClients, run_script

INDEX_KEY = "agent:sessions"
SESSION_ID = re.compile(r"^[0-9a-f]{32}$")

# append_turn(meta, messages, memory, index, a): ARGV[a+1..] = TTL, history cap, index expiry
# time, session id, n, n JSON messages, then fact name/value pairs. Appends, trims, stores the
# facts and refreshes every TTL and the index entry.
_APPEND_FUNCTION = """
local function append_turn(meta, messages, memory, index, a)
  local n = tonumber(ARGV[a + 5])
  if n > 0 then redis.call('RPUSH', messages, unpack(ARGV, a + 6, a + 5 + n)) end
  redis.call('LTRIM', messages, -tonumber(ARGV[a + 2]), -1)
  if #ARGV > a + 5 + n then redis.call('HSET', memory, unpack(ARGV, a + 6 + n, #ARGV)) end
  for _, key in ipairs({meta, messages, memory}) do redis.call('EXPIRE', key, ARGV[a + 1]) end
  redis.call('ZADD', index, ARGV[a + 3], ARGV[a + 4])
end
"""

# KEYS: meta, messages, memory, index. -> 1 when written, 0 when the session is gone.
_APPEND_TURN = _APPEND_FUNCTION + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
append_turn(KEYS[1], KEYS[2], KEYS[3], KEYS[4], 0)
return 1
"""

# (Lua 5.1 interns every string, so the owner comparisons below are by identity: no timing
# signal.)

# KEYS: rate-limit key, meta, messages, memory. ARGV: limit amount, limit expiry, owner,
# number of last messages to return. -> {retry_after} when rate limited, {0} when the session
# is missing or someone else's, else {0, created_at, facts (flat hash), last messages}.
_OPEN_TURN = LUA_FUNCTION + """
local retry = rate_limit(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if retry > 0 then return {retry} end
local meta = redis.call('HMGET', KEYS[2], 'owner', 'created_at')
if meta[1] ~= ARGV[3] then return {0} end
local last = tonumber(ARGV[4])
local history = {}
if last > 0 then history = redis.call('LRANGE', KEYS[3], -last, -1) end
return {0, meta[2] or '', redis.call('HGETALL', KEYS[4]), history}
"""

# KEYS: rate-limit key, meta, messages, memory, index. ARGV: limit amount, limit expiry,
# owner, then the append_turn arguments. -> {retry_after, 0} when rate limited, {0, 0} when
# the session is missing or someone else's, {0, 1} when the turn was written.
_WRITE_TURN = LUA_FUNCTION + _APPEND_FUNCTION + """
local retry = rate_limit(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if retry > 0 then return {retry, 0} end
if redis.call('HGET', KEYS[2], 'owner') ~= ARGV[3] then return {0, 0} end
append_turn(KEYS[2], KEYS[3], KEYS[4], KEYS[5], 3)
return {0, 1}
"""


def utc_now() -> str:
    return utc_iso(time.time())


def owner_of(api_key: str) -> str:
    """A stable, non-reversible owner tag for an API key (the key itself is never stored)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Session:
    id: str
    created_at: str
    owner: str


def _keys(session_id: str) -> tuple[str, str, str]:
    base = f"agent:s:{{{session_id}}}"
    return f"{base}:meta", f"{base}:messages", f"{base}:memory"


class SessionStore:
    """Create, read, extend and delete sessions; every method talks to Redis."""

    def __init__(self, clients: ThreadClients, ttl_seconds: int, max_messages: int) -> None:
        self._clients = clients
        self.ttl = ttl_seconds
        self.max_messages = max_messages
        self._append = clients.shared.register_script(_APPEND_TURN)
        self._open = clients.shared.register_script(_OPEN_TURN)
        self._write = clients.shared.register_script(_WRITE_TURN)

    @property
    def client(self) -> redis.Redis:
        """This thread's Redis client."""
        return self._clients.get()

    def create(self, owner: str) -> Session:
        session = Session(id=secrets.token_hex(16), created_at=utc_now(), owner=owner)
        meta, _, _ = _keys(session.id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(meta, mapping={"owner": owner, "created_at": session.created_at})
        pipe.expire(meta, self.ttl)
        pipe.zadd(INDEX_KEY, {session.id: self._expiry()})
        pipe.execute()
        return session

    def get(self, session_id: str, owner: str) -> Session | None:
        """The session if it exists and belongs to `owner` (other owners see nothing)."""
        if not SESSION_ID.match(session_id):
            return None
        data = self.client.hgetall(_keys(session_id)[0])
        if not data or not secrets.compare_digest(data.get("owner", ""), owner):
            return None
        return Session(id=session_id, created_at=data.get("created_at", ""), owner=owner)

    def open_turn(self, session_id: str, owner: str, limiter: RateLimiter,
                  last: int | None) -> tuple[Session, list[dict[str, Any]],
                                             dict[str, str]] | None:
        """Count one hit of `owner`'s rate limit (429 ApiError when over it), then load the
        session, its `last` messages (None: all kept) and its facts, in one round trip; None
        if the session is missing or not `owner`'s."""
        if not SESSION_ID.match(session_id):
            limiter.check(owner)
            return None
        window = self.max_messages if last is None else min(last, self.max_messages)
        reply = run_script(self._open, self.client, [limiter.key(owner), *_keys(session_id)],
                           [*limiter.args, owner, window])
        limiter.enforce(reply[0])
        if len(reply) == 1:
            return None
        _, created_at, flat, items = reply
        facts = dict(zip(flat[::2], flat[1::2], strict=True))
        session = Session(id=session_id, created_at=created_at, owner=owner)
        return session, [json.loads(item) for item in items], facts

    def history(self, session_id: str) -> list[dict[str, Any]]:
        return [json.loads(item) for item in self.client.lrange(_keys(session_id)[1], 0, -1)]

    def ttl_left(self, session_id: str) -> int:
        return max(int(self.client.ttl(_keys(session_id)[0])), 0)

    def _expiry(self) -> int:
        """The index score of a session written now: when its keys expire, in whole seconds
        rounded up (an integer: redis-py sends a float to Redis at several times the cost)."""
        return math.ceil(time.time()) + self.ttl

    def _turn_args(self, session_id: str, messages: list[dict[str, Any]],
                   memory: dict[str, str]) -> list[Any]:
        """The arguments of the Lua `append_turn`."""
        args: list[Any] = [self.ttl, self.max_messages, self._expiry(), session_id,
                           len(messages)]
        args += [jsoncodec.dumps(m) for m in messages]
        for name, value in memory.items():
            args += [name, value]
        return args

    def append_turn(self, session_id: str, messages: list[dict[str, Any]],
                    memory: dict[str, str]) -> bool:
        """Append messages and facts, refresh the TTL; False when the session is gone."""
        return bool(run_script(self._append, self.client, [*_keys(session_id), INDEX_KEY],
                               self._turn_args(session_id, messages, memory)))

    def write_turn(self, session_id: str, owner: str, limiter: RateLimiter,
                   messages: list[dict[str, Any]], memory: dict[str, str]) -> bool:
        """Count one hit of `owner`'s rate limit (429 ApiError when over it), then append the
        turn as `append_turn` does, in one atomic script and one round trip, for a turn
        whose reply needed nothing from the session; False if the session is missing or
        not `owner`'s (nothing is written)."""
        if not SESSION_ID.match(session_id):
            limiter.check(owner)
            return False
        retry_after, written = run_script(
            self._write, self.client, [limiter.key(owner), *_keys(session_id), INDEX_KEY],
            [*limiter.args, owner, *self._turn_args(session_id, messages, memory)])
        limiter.enforce(retry_after)
        return bool(written)

    def delete(self, session_id: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(*_keys(session_id))
        pipe.zrem(INDEX_KEY, session_id)
        pipe.execute()

    def count_active(self) -> int:
        """Live sessions (drops index entries whose TTL has passed)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(INDEX_KEY, "-inf", time.time())
        pipe.zcard(INDEX_KEY)
        return int(pipe.execute()[1])
