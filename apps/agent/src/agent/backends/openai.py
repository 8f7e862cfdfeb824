"""OpenAI-compatible chat-completions backend (`POST {base_url}/chat/completions`).

Each attempt has a timeout; connection errors, 429 and 5xx are retried with exponential
backoff and jitter (honouring a short Retry-After) up to `max_retries` times. A timeout is not
retried (the request budget is spent) and becomes a 504; anything else that fails becomes 502.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import requests

from agent.backends import BackendError, BackendTimeout, Reply, Turn, approx_tokens
from agent.config import OpenAISettings

log = logging.getLogger("agent.backends.openai")

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 8.0


class OpenAIBackend:
    """Talks to any server that speaks the OpenAI chat-completions API."""

    name = "openai"
    history_window = None  # the whole kept history goes to the model

    def __init__(self, settings: OpenAISettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.model = settings.model
        self.url = f"{settings.base_url}/chat/completions"
        self.http = session or requests.Session()

    def reads_session(self, content: str) -> bool:
        return True

    def reply(self, turn: Turn) -> Reply:
        messages = [{"role": "system", "content": self.settings.system_prompt}]
        messages += [{"role": m["role"], "content": m["content"]} for m in turn.history]
        messages.append({"role": "user", "content": turn.content})
        data = self._post({"model": self.model, "messages": messages})
        content = self._content(data)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        return Reply(
            content=content,
            prompt_tokens=prompt if isinstance(prompt, int) else
            sum(approx_tokens(m["content"]) for m in messages),
            completion_tokens=completion if isinstance(completion, int) else
            approx_tokens(content),
        )

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.settings.api_key}"}
        attempts = self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.http.post(self.url, json=payload, headers=headers,
                                          timeout=self.settings.timeout_seconds)
            except requests.Timeout as exc:
                raise BackendTimeout(f"the model endpoint did not answer within "
                                     f"{self.settings.timeout_seconds:g}s") from exc
            except requests.RequestException as exc:
                problem = f"cannot reach the model endpoint ({type(exc).__name__})"
                retry_after = None
            else:
                if response.status_code == 200:
                    return self._json(response)
                problem = f"the model endpoint answered HTTP {response.status_code}"
                if response.status_code not in RETRYABLE_STATUS:
                    raise BackendError(problem)
                retry_after = response.headers.get("Retry-After")
            if attempt == attempts:
                raise BackendError(f"{problem} (after {attempts} attempt(s))")
            delay = self._backoff(attempt, retry_after)
            log.warning("model call attempt %d/%d failed: %s; retrying in %.2fs",
                        attempt, attempts, problem, delay)
            time.sleep(delay)
        raise BackendError("no attempt was made")  # pragma: no cover - attempts >= 1

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        """Exponential backoff with full jitter, or the server's short Retry-After."""
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), MAX_BACKOFF_SECONDS)
        base = self.settings.backoff_seconds * (2 ** (attempt - 1))
        return min(MAX_BACKOFF_SECONDS, base / 2 + random.uniform(0, base / 2))

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise BackendError("the model endpoint answered invalid JSON") from exc
        if not isinstance(data, dict):
            raise BackendError("the model endpoint answered JSON that is not an object")
        return data

    @staticmethod
    def _content(data: dict[str, Any]) -> str:
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError("the model endpoint answered without choices[0].message") from exc
        if not isinstance(content, str):
            raise BackendError("the model endpoint answered a non-text message")
        return content
