"""Smoke test of a deployed agent: `python -m agent.smoke --url http://agent.agent-prod`.

Run after each Argo CD sync (the PostSync hook Job in base/agent/smoke-job.yaml) against the
in-cluster Service. Steps: /readyz answers 200 (waiting up to --wait seconds), a session is
created, one message gets an assistant reply, the session is deleted. Exit 0 when every
step passed, 1 when one failed (the step, the status and the body say why), 2 on bad usage.

The API key comes from --api-key-file, else AGENT_API_KEYS_FILE (the agent's own mounted
key file: the first key), else AGENT_SMOKE_API_KEY.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from agent.config import split_keys


class SmokeFailure(Exception):
    """A step failed: the message says which and why."""


def _request(method: str, url: str, key: str | None, body: dict | None,
             timeout: float) -> tuple[int, dict | str]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Accept": "application/json", "User-Agent": "agent-smoke"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SmokeFailure(f"{method} {url}: unreachable ({reason})") from None
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else ""
    except json.JSONDecodeError:
        return status, text[:300]


class Smoke:
    """The steps, against one base URL."""

    def __init__(self, url: str, key: str, timeout: float, echo: Callable[[str], None]) -> None:
        self.base = url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.echo = echo

    def call(self, step: str, method: str, path: str, expect: int, body: dict | None = None,
             auth: bool = True) -> dict | str:
        started = time.monotonic()
        status, payload = _request(method, self.base + path, self.key if auth else None, body,
                                   self.timeout)
        took = (time.monotonic() - started) * 1000
        if status != expect:
            raise SmokeFailure(f"{step}: {method} {path} answered {status}, expected {expect}: "
                               f"{json.dumps(payload)[:300]}")
        self.echo(f"ok   {step:<16} {method} {path} -> {status} ({took:.0f} ms)")
        return payload

    def wait_ready(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                self.call("readyz", "GET", "/readyz", 200, auth=False)
                return
            except SmokeFailure as exc:
                if time.monotonic() >= deadline:
                    raise
                self.echo(f"wait {exc}")
                time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))

    def run(self, wait: float, message: str) -> None:
        self.wait_ready(wait)
        created = self.call("create session", "POST", "/v1/sessions", 201, {})
        session = created.get("id") if isinstance(created, dict) else None
        if not isinstance(session, str) or not session:
            raise SmokeFailure(f"create session: no session id in {created!r}")
        path = "/v1/sessions/" + urllib.parse.quote(session, safe="")
        try:
            reply = self.call("message", "POST", path + "/messages", 200, {"content": message})
            answer = reply.get("message") if isinstance(reply, dict) else None
            if not (isinstance(answer, dict) and answer.get("role") == "assistant"
                    and isinstance(answer.get("content"), str) and answer["content"].strip()):
                raise SmokeFailure(f"message: no assistant reply in {json.dumps(reply)[:300]}")
        finally:
            self.call("delete session", "DELETE", path, 204)


def api_key(path: str | None) -> str:
    path = path or os.environ.get("AGENT_API_KEYS_FILE") or None
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                keys = split_keys(handle.read())
        except OSError as exc:
            raise SmokeFailure(f"cannot read the API key file {path}: {exc.strerror}") from None
        if not keys:
            raise SmokeFailure(f"the API key file {path} holds no key")
        return keys[0]
    key = os.environ.get("AGENT_SMOKE_API_KEY", "").strip()
    if not key:
        raise SmokeFailure("no API key: pass --api-key-file, or set AGENT_API_KEYS_FILE or "
                           "AGENT_SMOKE_API_KEY")
    return key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.smoke", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--url", required=True, help="base URL, e.g. http://agent.agent-prod")
    parser.add_argument("--api-key-file", default=None)
    parser.add_argument("--wait", type=float, default=60.0,
                        help="seconds to wait for /readyz (default 60)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--message", default="smoke test: reply with one word")
    args = parser.parse_args(argv)
    parsed = urllib.parse.urlparse(args.url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        print(f"smoke: --url {args.url!r} is not an http(s) URL", file=sys.stderr)
        return 2
    try:
        Smoke(args.url, api_key(args.api_key_file), args.timeout, print).run(args.wait,
                                                                            args.message)
    except SmokeFailure as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    print(f"smoke test of {args.url} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
