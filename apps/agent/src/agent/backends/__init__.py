"""Agent backends behind one small interface: `Backend.reply(Turn) -> Reply`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from agent.config import Settings


@dataclass(frozen=True, slots=True)
class Turn:
    """One user message with the session context the backend may use."""

    content: str
    history: list[dict[str, str]] = field(default_factory=list)
    memory: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """The assistant's answer, facts to remember, and token usage of the call."""

    content: str
    memory: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0


class BackendError(Exception):
    """The backend could not answer (answered 502 to the client)."""


class BackendTimeout(BackendError):
    """The backend did not answer in time (answered 504 to the client)."""


class Backend(Protocol):
    name: str
    model: str
    history_window: int | None  # last messages `reply` reads (None: all that are kept)

    def reads_session(self, content: str) -> bool:
        """Whether the reply to `content` depends on the session (history or facts). When
        False, `reply` must be pure (no I/O, no BackendError): it is then computed before
        the session is looked at, and the turn is written in the same round trip."""
        ...

    def reply(self, turn: Turn) -> Reply: ...


def approx_tokens(text: str) -> int:
    """Rough token count (about 4 characters per token), for accounting when none is given."""
    return math.ceil(len(text) / 4) if text else 0


def make_backend(settings: Settings) -> Backend:
    """The backend named by AGENT_BACKEND."""
    if settings.backend == "openai":
        from agent.backends.openai import OpenAIBackend

        return OpenAIBackend(settings.openai)
    from agent.backends.builtin import BuiltinBackend

    return BuiltinBackend()
