"""Bearer API-key authentication, compared in constant time against every configured key."""

from __future__ import annotations

import hmac

from flask import request

from agent.errors import ApiError


class KeyRing:
    """The accepted API keys."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = tuple(key.encode() for key in keys)

    def matches(self, candidate: str) -> bool:
        """True when `candidate` is a configured key; checks all keys (no early exit)."""
        given = candidate.encode()
        found = False
        for key in self._keys:
            found |= hmac.compare_digest(given, key)
        return found

    def authenticate(self) -> str:
        """The API key of the current request, or a 401 ApiError."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="agent"'}
        if not header:
            raise ApiError(401, "unauthorized", "missing API key: send "
                           "'Authorization: Bearer <key>'", headers=challenge)
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "malformed Authorization header: expected "
                           "'Bearer <key>'", headers=challenge)
        if not self.matches(token.strip()):
            raise ApiError(401, "unauthorized", "invalid API key", headers=challenge)
        return token.strip()
