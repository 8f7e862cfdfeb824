"""The builtin agent: offline and deterministic, with three tools and a helpful fallback.

Tools, tried in order: recall a remembered fact ("what is my name?"), remember a fact
("my name is Ada", "call me Ada"), tell the current time/date, and safe arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from agent.backends import Reply, Turn, approx_tokens
from agent.backends.calculator import CalculationError, calculate, find_expression, format_number

MAX_FACT_CHARS = 200
HELP = ("I'm the builtin agent. I can do arithmetic (\"what is 12 * (3 + 4)?\"), tell the "
        "current time (\"what time is it?\"), and remember what you tell me "
        "(\"my name is Ada\", then \"what is my name?\").")

_RECALL = re.compile(
    r"^\s*(?:what|who)(?:'s|\s+is|\s+are|\s+was)\s+my\s+(?P<fact>[a-z][a-z0-9 '\-]{0,60}?)"
    r"\s*\??\s*$", re.IGNORECASE)
_WHO_AM_I = re.compile(r"^\s*(?:who am i|do you (?:know|remember) my name)\s*\??\s*$",
                       re.IGNORECASE)
_REMEMBER = re.compile(
    r"^\s*my\s+(?P<fact>[a-z][a-z0-9 '\-]{0,60}?)\s+(?:is|are)\s+(?P<value>.+?)\s*[.!]*\s*$",
    re.IGNORECASE)
_CALL_ME = re.compile(r"^\s*(?:call me|i am|i'm)\s+(?P<value>[A-Z][\w\-']{0,40})\s*[.!]*\s*$")
_TIME = re.compile(r"\b(?:what(?:'s| is) the time|what time|current time|time is it|"
                   r"what(?:'s| is) the date|today'?s date|what day)\b", re.IGNORECASE)
_GREETING = re.compile(r"^\s*(?:hi|hello|hey|help|what can you do)\b", re.IGNORECASE)


def _normalise_fact(name: str) -> str:
    name = re.sub(r"\s+", " ", name.strip().lower())
    return name.replace("favorite", "favourite")


class BuiltinBackend:
    """A small tool-using agent; deterministic except for the time tool."""

    name = "builtin"
    model = "builtin"
    history_window = 0  # the tools read the message and the remembered facts only

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))

    def reads_session(self, content: str) -> bool:
        """Only recalling a fact reads the session; every other tool is a pure function."""
        return bool(_RECALL.match(content) or _WHO_AM_I.match(content))

    def reply(self, turn: Turn) -> Reply:
        content, memory = self._answer(turn.content, turn.memory)
        return Reply(content=content, memory=memory, prompt_tokens=approx_tokens(turn.content),
                     completion_tokens=approx_tokens(content))

    def _answer(self, text: str, memory: dict[str, str]) -> tuple[str, dict[str, str]]:
        if (match := _RECALL.match(text)) or _WHO_AM_I.match(text):
            fact = _normalise_fact(match.group("fact")) if match else "name"
            if fact in memory:
                return f"Your {fact} is {memory[fact]}.", {}
            return f"You haven't told me your {fact} yet. Tell me with \"my {fact} is ...\".", {}
        if match := _REMEMBER.match(text):
            fact, value = _normalise_fact(match.group("fact")), match.group("value").strip()
            value = value[:MAX_FACT_CHARS]
            if fact == "name":
                return f"Nice to meet you, {value}! I'll remember your name.", {fact: value}
            return f"Got it: your {fact} is {value}. I'll remember that.", {fact: value}
        if match := _CALL_ME.match(text):
            value = match.group("value")
            return f"Nice to meet you, {value}! I'll remember your name.", {"name": value}
        if _TIME.search(text):
            now = self.clock()
            return (f"It is {now.strftime('%H:%M:%S')} UTC on {now.strftime('%A, %d %B %Y')} "
                    f"({now.isoformat(timespec='seconds').replace('+00:00', 'Z')}).", {})
        if expression := find_expression(text):
            try:
                value = format_number(calculate(expression))
            except CalculationError as exc:
                return f"I can't compute {expression.strip()}: {exc}.", {}
            return f"{expression.strip()} = {value}", {}
        if _GREETING.match(text):
            return f"Hello! {HELP}", {}
        return f"I don't know how to answer that yet. {HELP}", {}
