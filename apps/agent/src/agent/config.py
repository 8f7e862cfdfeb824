"""Service configuration: read only from the environment, validated once at start-up.

Every problem is collected and reported together as a `ConfigError` naming the variable,
the bad value and what is accepted, so a misconfigured pod fails fast with one clear message.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from limits import parse as parse_rate_limit
from redis.connection import parse_url as parse_redis_url

from agent import __version__

BACKENDS = ("builtin", "openai")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """One or more environment variables are missing or invalid."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))

    def render(self) -> str:
        lines = ["agent: invalid configuration (fix these environment variables):"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class OpenAISettings:
    """How to reach an OpenAI-compatible chat-completions endpoint."""

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key: str = field(default="", repr=False)
    timeout_seconds: float = 30.0
    max_retries: int = 2
    backoff_seconds: float = 0.5
    system_prompt: str = "You are a concise, helpful assistant."


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one agent process."""

    redis_url: str
    api_keys: tuple[str, ...] = field(repr=False)
    api_keys_file: str | None = None
    api_keys_check_seconds: float = 2.0  # how often the key file is looked at, at most
    backend: str = "builtin"
    port: int = 8000
    log_level: str = "INFO"
    access_log_flush_seconds: float = 0.2  # access lines wait at most this long (0: none)
    session_ttl_seconds: int = 3600
    history_max_messages: int = 50
    max_body_bytes: int = 64 * 1024
    max_message_chars: int = 4000
    rate_limit: str = "120/minute"
    redis_timeout_seconds: float = 1.0
    ready_timeout_seconds: float = 0.5
    fault_rate: float = 0.0
    metrics_dir: str | None = None      # PROMETHEUS_MULTIPROC_DIR: metrics of all workers
    version: str = __version__
    git_sha: str = "unknown"
    build_date: str = "unknown"
    openai: OpenAISettings = field(default_factory=OpenAISettings)


class _Reader:
    """Reads typed values from an env mapping, collecting problems instead of raising."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return value.strip() if value is not None and value.strip() != "" else None

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def number(self, name: str, default: Any, kind: Callable[[str], Any],
               low: float, high: float, unit: str = "") -> Any:
        value = self.raw(name)
        if value is None:
            return default
        try:
            parsed = kind(value)
            if isinstance(parsed, float) and not math.isfinite(parsed):
                raise ValueError(value)
        except ValueError:
            label = "an integer" if kind is int else "a number"
            self.problems.append(f"{name}={value!r} is not {label}; expected {label} "
                                 f"between {low} and {high}{unit}")
            return default
        if not low <= parsed <= high:
            self.problems.append(f"{name}={value!r} is out of range; expected {low}..{high}{unit}")
            return default
        return parsed

    def choice(self, name: str, default: str, choices: tuple[str, ...], upper: bool = False) -> str:
        value = self.raw(name)
        if value is None:
            return default
        value = value.upper() if upper else value.lower()
        if value not in choices:
            self.problems.append(f"{name}={self.raw(name)!r} is not one of {', '.join(choices)}")
            return default
        return value

    def secret_file(self, name: str) -> str | None:
        """Contents of the file named by `name` (stripped), or None when unset/unreadable."""
        path = self.raw(name)
        if path is None:
            return None
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            self.problems.append(f"{name}={path!r} cannot be read ({exc.strerror or exc}); "
                                 "mount the secret file or unset the variable")
            return None


def split_keys(text: str) -> list[str]:
    """API keys separated by commas or newlines; `#` starts a comment line in key files."""
    keys: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        keys += [part.strip() for part in line.split(",") if part.strip()]
    return keys


def weak_keys(keys: list[str]) -> list[str]:
    """Keys too short (< 8 characters) or containing whitespace."""
    return [k for k in keys if len(k) < 8 or any(c.isspace() for c in k)]


def _api_keys(reader: _Reader) -> tuple[str, ...]:
    inline, path = reader.raw("AGENT_API_KEYS"), reader.raw("AGENT_API_KEYS_FILE")
    if inline and path:
        reader.problems.append("AGENT_API_KEYS and AGENT_API_KEYS_FILE are both set; set only one")
        return ()
    if not inline and not path:
        reader.problems.append("AGENT_API_KEYS (comma separated) or AGENT_API_KEYS_FILE "
                               "(one key per line) is required")
        return ()
    source = "AGENT_API_KEYS" if inline else f"AGENT_API_KEYS_FILE ({path})"
    keys = split_keys(inline if inline else (reader.secret_file("AGENT_API_KEYS_FILE") or ""))
    if not keys and not reader.problems:
        reader.problems.append(f"{source} holds no API key")
    bad = weak_keys(keys)
    if bad:
        reader.problems.append(f"{source}: {len(bad)} key(s) shorter than 8 characters or "
                               "containing whitespace; use long random tokens")
    return tuple(keys)


def _redis_url(reader: _Reader) -> str:
    url = reader.raw("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if urlparse(url).scheme not in ("redis", "rediss", "unix"):
        reader.problems.append(f"REDIS_URL={_redacted(url)!r} must start with redis://, "
                               "rediss:// or unix://")
        return url
    try:
        parse_redis_url(url)
    except ValueError as exc:
        reader.problems.append(f"REDIS_URL={_redacted(url)!r} is not a valid Redis URL ({exc}); "
                               "write redis://[:password@]host:port/db")
    return url


def _redacted(url: str) -> str:
    """The URL with any password replaced, safe to print."""
    parts = urlparse(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _rate_limit(reader: _Reader) -> str:
    value = reader.text("AGENT_RATE_LIMIT", Settings.rate_limit)
    try:
        parse_rate_limit(value)
    except ValueError:
        reader.problems.append(f"AGENT_RATE_LIMIT={value!r} is not a rate limit; "
                               "write e.g. '120/minute' or '10/second'")
        return Settings.rate_limit
    return value


def _openai_key(reader: _Reader) -> str:
    inline, path = reader.raw("AGENT_OPENAI_API_KEY"), reader.raw("AGENT_OPENAI_API_KEY_FILE")
    if inline and path:
        reader.problems.append("AGENT_OPENAI_API_KEY and AGENT_OPENAI_API_KEY_FILE are both set; "
                               "set only one")
        return ""
    if inline:
        return inline
    if path:
        key = reader.secret_file("AGENT_OPENAI_API_KEY_FILE")
        if key == "":
            reader.problems.append(f"AGENT_OPENAI_API_KEY_FILE={path!r} is empty; write the key")
        return key or ""
    reader.problems.append("AGENT_BACKEND=openai needs AGENT_OPENAI_API_KEY or "
                           "AGENT_OPENAI_API_KEY_FILE")
    return ""


def _openai(reader: _Reader, required: bool) -> OpenAISettings:
    defaults = OpenAISettings()
    base_url = reader.text("AGENT_OPENAI_BASE_URL", defaults.base_url).rstrip("/")
    if urlparse(base_url).scheme not in ("http", "https") or not urlparse(base_url).netloc:
        reader.problems.append(f"AGENT_OPENAI_BASE_URL={base_url!r} must be an http(s) URL "
                               "such as https://api.openai.com/v1")
    key = ""
    if required:  # the builtin backend ignores the key (its secret file may not be mounted)
        key = _openai_key(reader)
    return OpenAISettings(
        base_url=base_url,
        model=reader.text("AGENT_OPENAI_MODEL", defaults.model),
        api_key=key,
        timeout_seconds=reader.number("AGENT_OPENAI_TIMEOUT_SECONDS", defaults.timeout_seconds,
                                      float, 0.1, 600, " seconds"),
        max_retries=reader.number("AGENT_OPENAI_MAX_RETRIES", defaults.max_retries, int, 0, 10),
        backoff_seconds=reader.number("AGENT_OPENAI_BACKOFF_SECONDS", defaults.backoff_seconds,
                                      float, 0, 30, " seconds"),
        system_prompt=reader.text("AGENT_SYSTEM_PROMPT", defaults.system_prompt),
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from the environment; raise `ConfigError` listing every problem."""
    reader = _Reader(os.environ if env is None else env)
    backend = reader.choice("AGENT_BACKEND", "builtin", BACKENDS)
    settings = Settings(
        redis_url=_redis_url(reader),
        api_keys=_api_keys(reader),
        api_keys_file=reader.raw("AGENT_API_KEYS_FILE"),
        api_keys_check_seconds=reader.number("AGENT_API_KEYS_CHECK_SECONDS", 2.0, float, 0.1,
                                             3600, " seconds"),
        backend=backend,
        port=reader.number("PORT", 8000, int, 1, 65535),
        log_level=reader.choice("LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
        access_log_flush_seconds=reader.number("AGENT_ACCESS_LOG_FLUSH_SECONDS", 0.2, float, 0,
                                               10, " seconds"),
        session_ttl_seconds=reader.number("AGENT_SESSION_TTL_SECONDS", 3600, int, 1, 30 * 86400,
                                          " seconds"),
        history_max_messages=reader.number("AGENT_HISTORY_MAX_MESSAGES", 50, int, 2, 10000),
        max_body_bytes=reader.number("AGENT_MAX_BODY_BYTES", 64 * 1024, int, 256, 16 * 2**20,
                                     " bytes"),
        max_message_chars=reader.number("AGENT_MAX_MESSAGE_CHARS", 4000, int, 1, 1_000_000),
        rate_limit=_rate_limit(reader),
        redis_timeout_seconds=reader.number("AGENT_REDIS_TIMEOUT_SECONDS", 1.0, float, 0.05, 30,
                                            " seconds"),
        ready_timeout_seconds=reader.number("AGENT_READY_TIMEOUT_SECONDS", 0.5, float, 0.05, 10,
                                            " seconds"),
        fault_rate=reader.number("AGENT_FAULT_RATE", 0.0, float, 0.0, 1.0),
        metrics_dir=reader.raw("PROMETHEUS_MULTIPROC_DIR"),
        version=reader.text("AGENT_VERSION", __version__),
        git_sha=reader.text("AGENT_GIT_SHA", "unknown"),
        build_date=reader.text("AGENT_BUILD_DATE", "unknown"),
        openai=_openai(reader, required=backend == "openai"),
    )
    if reader.problems:
        raise ConfigError(reader.problems)
    return settings


@dataclass(frozen=True)
class ServerSettings:
    """How gunicorn serves the app (read by `agent.gunicorn_config` and the draining worker)."""

    host: str = "0.0.0.0"
    port: int = 8000
    workers: int = 2
    threads: int = 4
    timeout: int = 60
    graceful_timeout: int = 25
    keepalive: int = 5
    max_requests: int = 0
    drain_seconds: float = 0.0
    access_log: bool = False
    forwarded_allow_ips: str = "127.0.0.1"
    log_level: str = "INFO"
    metrics_dir: str | None = None      # PROMETHEUS_MULTIPROC_DIR; None: a temporary one


def load_server_settings(env: Mapping[str, str] | None = None) -> ServerSettings:
    """Build `ServerSettings` from the environment; raise `ConfigError` listing every problem."""
    reader = _Reader(os.environ if env is None else env)
    defaults = ServerSettings()
    graceful = reader.number("GUNICORN_GRACEFUL_TIMEOUT", defaults.graceful_timeout, int, 1, 3600)
    drain = reader.number("AGENT_DRAIN_SECONDS", defaults.drain_seconds, float, 0, 3600)
    if drain >= graceful:
        reader.problems.append(f"AGENT_DRAIN_SECONDS={drain:g} must be shorter than "
                               f"GUNICORN_GRACEFUL_TIMEOUT={graceful:g}")
    settings = ServerSettings(
        host=reader.text("HOST", defaults.host),
        port=reader.number("PORT", defaults.port, int, 1, 65535),
        workers=reader.number("GUNICORN_WORKERS", defaults.workers, int, 1, 64),
        threads=reader.number("GUNICORN_THREADS", defaults.threads, int, 1, 256),
        timeout=reader.number("GUNICORN_TIMEOUT", defaults.timeout, int, 1, 3600),
        graceful_timeout=graceful,
        keepalive=reader.number("GUNICORN_KEEPALIVE", defaults.keepalive, int, 0, 600),
        max_requests=reader.number("GUNICORN_MAX_REQUESTS", defaults.max_requests, int, 0,
                                   10**9),
        drain_seconds=drain,
        access_log=reader.text("GUNICORN_ACCESS_LOG", "0") == "1",
        forwarded_allow_ips=reader.text("FORWARDED_ALLOW_IPS", defaults.forwarded_allow_ips),
        log_level=reader.choice("LOG_LEVEL", defaults.log_level, LOG_LEVELS, upper=True),
        metrics_dir=reader.raw("PROMETHEUS_MULTIPROC_DIR"),
    )
    if reader.problems:
        raise ConfigError(reader.problems)
    return settings
