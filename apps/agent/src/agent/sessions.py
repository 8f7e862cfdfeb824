"""Sessions in Redis: metadata, a capped message history and remembered facts, all with TTL.

Keys (hash-tagged by session id): `agent:s:{id}:meta` (hash: owner, created_at),
`agent:s:{id}:messages` (list of JSON messages, newest last, capped), `agent:s:{id}:memory`
(hash of facts). `agent:sessions` is a sorted set id -> expiry time, used to count live sessions.

A message costs two round trips, each one Lua script: `open_turn` checks the caller's rate
limit and loads the session's owner, facts and only the last messages the backend reads;
`append_turn` writes the turn (user message + reply + facts) atomically, and only if the
session still exists, so a failed or concurrently deleted turn never leaves half a write.
History is appended and trimmed in Redis; it is never read back whole to write a message.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from agent.ratelimit import LUA_FUNCTION, RateLimiter

INDEX_KEY = "agent:sessions"
SESSION_ID = re.compile(r"^[0-9a-f]{32}$")

_APPEND_TURN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[5])
for i = 1, n do redis.call('RPUSH', KEYS[2], ARGV[5 + i]) end
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
if #ARGV > 5 + n then redis.call('HSET', KEYS[3], unpack(ARGV, 6 + n, #ARGV)) end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
return 1
"""

# KEYS: rate-limit key, meta, messages, memory. ARGV: limit amount, limit expiry, owner,
# number of last messages to return. -> {retry_after} when rate limited, {0} when the session
# is missing or someone else's, else {0, created_at, facts (flat hash), last messages}.
# (Lua 5.1 interns every string, so the owner comparison is by identity: no timing signal.)
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


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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

    def __init__(self, client: redis.Redis, ttl_seconds: int, max_messages: int) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.max_messages = max_messages
        self._append = client.register_script(_APPEND_TURN)
        self._open = client.register_script(_OPEN_TURN)

    def create(self, owner: str) -> Session:
        session = Session(id=secrets.token_hex(16), created_at=utc_now(), owner=owner)
        meta, _, _ = _keys(session.id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(meta, mapping={"owner": owner, "created_at": session.created_at})
        pipe.expire(meta, self.ttl)
        pipe.zadd(INDEX_KEY, {session.id: time.time() + self.ttl})
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
        reply = self._open(keys=[limiter.key(owner), *_keys(session_id)],
                           args=[*limiter.args, owner, window])
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

    def append_turn(self, session_id: str, messages: list[dict[str, Any]],
                    memory: dict[str, str]) -> bool:
        """Append messages and facts, refresh the TTL; False when the session is gone."""
        args: list[Any] = [self.ttl, self.max_messages, time.time() + self.ttl, session_id,
                           len(messages)]
        args += [json.dumps(m, ensure_ascii=False) for m in messages]
        for name, value in memory.items():
            args += [name, value]
        return bool(self._append(keys=[*_keys(session_id), INDEX_KEY], args=args))

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
