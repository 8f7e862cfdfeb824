"""Profile of the agent message path in process (not a test): the real app, a real redis-server.

Builds the app with `create_app` (builtin backend, metrics in multiprocess mode as under
gunicorn, the JSON log line written to /dev/null), fills one session to its history cap, then
sends `--messages` POST /v1/sessions/{id}/messages straight to the WSGI app (no HTTP, no test
client) and prints the CPU per message of this process and of redis-server, and the top items
of a profile (cProfile on thread CPU time, by own time, so waiting for Redis is not counted;
or pyinstrument's call tree).

    .venv/bin/python bench/agent/profile_message.py [--messages 3000] [--profiler cprofile]

To profile another checkout of the agent, put its sources first:
`PYTHONPATH=/path/to/other/apps/agent/src .venv/bin/python bench/agent/profile_message.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.processes import RedisServer  # noqa: E402

API_KEY = "bench-key-0001"
CONTENT = b'{"content": "what is 12 * (3 + 4)?"}'


def redis_cpu_seconds(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def make_request(app: Any, environ: dict[str, Any]) -> tuple[str, bytes]:
    """One request through the WSGI app; the status line and the body."""
    status: list[str] = []
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(CONTENT)
    chunks = app(env, lambda line, headers, exc_info=None: status.append(line))
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return status[0], body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument", "none"),
                        default="cprofile")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    metrics_dir = tempfile.mkdtemp(prefix="agent-profile-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # before prometheus_client loads
    redis_server = RedisServer().start()
    try:
        return profile(args, redis_server)
    finally:
        redis_server.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def profile(args: argparse.Namespace, redis_server: RedisServer) -> int:
    import agent
    import redis
    from agent.app import create_app
    from werkzeug.test import EnvironBuilder

    app = create_app({"REDIS_URL": redis_server.url, "AGENT_API_KEYS": API_KEY,
                      "AGENT_RATE_LIMIT": "100000000/minute", "LOG_LEVEL": "INFO",
                      "PROMETHEUS_MULTIPROC_DIR": os.environ["PROMETHEUS_MULTIPROC_DIR"]})
    auth = {"Authorization": f"Bearer {API_KEY}"}
    session = app.test_client().post("/v1/sessions", headers=auth).get_json()["id"]
    environ = EnvironBuilder(path=f"/v1/sessions/{session}/messages", method="POST",
                             headers={**auth, "Content-Type": "application/json"},
                             data=CONTENT).get_environ()
    client = redis.Redis.from_url(redis_server.url)
    print(f"agent from {Path(agent.__file__).parent}")

    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        for _ in range(100):  # fill the history to its cap, warm every cache
            status, body = make_request(app, environ)
            assert status.startswith("200"), (status, body)
        redis_before, usage, wall = redis_cpu_seconds(client), os.times(), time.perf_counter()
        for _ in range(args.messages):
            make_request(app, environ)
        after = os.times()
        user, system = after.user - usage.user, after.system - usage.system
        cpu, wall = user + system, time.perf_counter() - wall
        redis_cpu = redis_cpu_seconds(client) - redis_before
        report = run_profiler(args, app, environ)
    history = app.test_client().get(f"/v1/sessions/{session}", headers=auth).get_json()
    per = 1000 / args.messages
    print(f"{args.messages} messages, history kept: {len(history['messages'])} messages")
    print(f"per message: {cpu * per:.3f} ms CPU (agent process: {user * per:.3f} user, "
          f"{system * per:.3f} system), {redis_cpu * per:.3f} ms CPU (redis-server), "
          f"{wall * per:.3f} ms wall, load average {os.getloadavg()[0]:.1f}")
    print(json.dumps({"agent_cpu_ms": round(cpu * per, 3), "agent_user_ms": round(user * per, 3),
                      "agent_system_ms": round(system * per, 3),
                      "redis_cpu_ms": round(redis_cpu * per, 3),
                      "wall_ms": round(wall * per, 3)}))
    print(report)
    return 0


def run_profiler(args: argparse.Namespace, app: Any, environ: dict[str, Any]) -> str:
    count = args.messages
    if args.profiler == "none":
        return ""
    if args.profiler == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(count):
            make_request(app, environ)
        profiler.stop()
        return profiler.output_text(unicode=False, color=False, show_all=False)
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.thread_time)  # CPU time: waiting on Redis is not cost
    profiler.enable()
    for _ in range(count):
        make_request(app, environ)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(args.top)
    out.write("\n")
    stats.sort_stats("cumulative").print_stats(args.top)
    return out.getvalue()


if __name__ == "__main__":
    raise SystemExit(main())
