"""A real local HTTP server speaking the OpenAI chat-completions API, scripted per request.

Stand-in for the paid LLM API only. Each request pops the next action from `script`
(default: answer "ok from fake"): ("reply", text) | ("status", code) | ("sleep", seconds, text)
| ("hold", text): answer once the test calls `release()` (or after 60 s) | ("raw", body).
Every request received is recorded in `requests` (headers + JSON body).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLLM:
    def __init__(self) -> None:
        self.script: deque[tuple[Any, ...]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> FakeLLM:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()  # a failed test must not leave requests held
        self.server.shutdown()
        self.server.server_close()

    def reset(self, *actions: tuple[Any, ...]) -> None:
        with self.lock:
            self.script = deque(actions)
            self.requests = []
            self.released.clear()

    def release(self) -> None:
        """Let every held request (and any later one) answer."""
        self.released.set()

    def _next(self) -> tuple[Any, ...]:
        with self.lock:
            return self.script.popleft() if self.script else ("reply", "ok from fake")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body})
                    fake.in_flight += 1
                try:
                    self._act(fake._next(), body)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def _act(self, action: tuple[Any, ...], body: dict[str, Any]) -> None:
                kind = action[0]
                if kind == "sleep":
                    time.sleep(action[1])
                    action = ("reply", action[2] if len(action) > 2 else "slow ok")
                    kind = "reply"
                if kind == "hold":
                    fake.released.wait(60)
                    action, kind = ("reply", action[1]), "reply"
                if self.path != "/v1/chat/completions":
                    return self._send(404, b'{"error": {"message": "not found"}}')
                if kind == "status":
                    return self._send(action[1], b'{"error": {"message": "scripted failure"}}')
                if kind == "raw":
                    return self._send(200, action[1].encode())
                reply = {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                    "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": action[1]}}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                }
                return self._send(200, json.dumps(reply).encode())

            def _send(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        return Handler
