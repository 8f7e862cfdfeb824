"""Bearer API-key authentication, compared in constant time against every configured key.

Keys from AGENT_API_KEYS_FILE (a mounted secret) are re-read when the file changes, checked
at most every AGENT_API_KEYS_CHECK_SECONDS (default 2), so rotating a key needs no restart. A
changed file that is unreadable, empty or holds weak keys is ignored (logged); the previous
keys stay. Each key's owner tag (`owner_of`) is computed when the keys are loaded, not per
request.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from pathlib import Path

from flask import request

from agent.config import split_keys, weak_keys
from agent.errors import ApiError
from agent.sessions import owner_of

log = logging.getLogger("agent.auth")


class KeyRing:
    """The accepted API keys (optionally followed from a key file)."""

    def __init__(self, keys: tuple[str, ...], path: str | None = None,
                 check_seconds: float = 2.0) -> None:
        self._keys = self._entries(keys)
        self._path = Path(path) if path else None
        self._check_seconds = check_seconds
        self._lock = threading.Lock()
        # `keys` were read from the file earlier (when the settings were loaded, maybe in
        # another process). The file's stamp is taken now, so the file is read again with it:
        # a rotation between the two reads would otherwise never be seen by this worker.
        self._stamp = self._file_stamp()
        if self._stamp is not None:
            self._keys = self._read_file() or self._keys
        self._checked = time.monotonic()

    @staticmethod
    def _entries(keys: tuple[str, ...]) -> tuple[tuple[bytes, str], ...]:
        return tuple((key.encode(), owner_of(key)) for key in keys)

    def _file_stamp(self) -> tuple[float, int] | None:
        if self._path is None:
            return None
        try:
            info = os.stat(self._path)
        except OSError:
            return None
        return info.st_mtime, info.st_size

    def refresh(self) -> None:
        """Re-read the key file if it changed since the last look (rate limited)."""
        if self._path is None or time.monotonic() - self._checked < self._check_seconds:
            return
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._file_stamp()
            if stamp is None or stamp == self._stamp:
                return
            self._stamp = stamp
            keys = self._read_file()
            if keys is not None:
                self._keys = keys
                log.info("reloaded %d API key(s) from %s", len(keys), self._path)

    def _read_file(self) -> tuple[tuple[bytes, str], ...] | None:
        """The keys of the key file, or None (logged) when it is unreadable, holds no key or
        a weak key: the previous keys then stay."""
        assert self._path is not None
        try:
            keys = split_keys(self._path.read_text(encoding="utf-8"))
        except OSError as exc:
            log.warning("cannot re-read %s (%s); keeping the previous keys", self._path, exc)
            return None
        if not keys or weak_keys(keys):
            log.warning("%s changed but holds no key or a weak key; keeping the previous "
                        "keys", self._path)
            return None
        return self._entries(keys)

    def owner(self, candidate: str) -> str | None:
        """The owner tag of `candidate` if it is a configured key, else None; compares with
        every key (no early exit)."""
        given, found = candidate.encode(), None
        for key, owner in self._keys:
            if hmac.compare_digest(given, key):
                found = owner
        return found

    def authenticate(self) -> str:
        """The owner tag (`owner_of`) of the current request's API key, or a 401 ApiError."""
        self.refresh()
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="agent"'}
        if not header:
            raise ApiError(401, "unauthorized", "missing API key: send "
                           "'Authorization: Bearer <key>'", headers=challenge)
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "malformed Authorization header: expected "
                           "'Bearer <key>'", headers=challenge)
        owner = self.owner(token.strip())
        if owner is None:
            raise ApiError(401, "unauthorized", "invalid API key", headers=challenge)
        return owner
