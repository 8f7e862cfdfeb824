"""Agent service benchmark (not a test): wrk against gunicorn on loopback.

Measures req/s and p50/p99 latency for /healthz, a bare Flask hello route served with the
same gunicorn settings (the ceiling), and POST /v1/sessions/{id}/messages with the builtin
agent (auth, shared Redis rate limit, Redis history, metrics, JSON log line), and the CPU
each request costs the server (gunicorn master and workers, plus redis-server for the
agent's requests): on a shared machine req/s follow the load, CPU per request much less.
Prints a table and the agent/ceiling ratios (each round's ratio, and their median: the
scenarios of a round run seconds apart, under one machine load; every other round runs them
in reverse order); writes bench/out/agent.json.

    .venv/bin/python bench/agent/run.py [--duration 5] [--rounds 3] [--connections 16]
        [--baseline-src OTHER_CHECKOUT/apps/agent/src]   # before/after in the same run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.agent import GUNICORN_ARGS, agent_environment  # noqa: E402
from support.processes import (  # noqa: E402
    ManagedProcess,
    RedisServer,
    free_port,
    wait_for_http,
)

HERE = Path(__file__).resolve().parent
API_KEY = "bench-key-0001"


def parse_wrk(output: str) -> dict[str, float]:
    """req/s, p50/p99 (ms) and non-2xx count from `wrk --latency` output."""
    def millis(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": millis("50"), "p99_ms": millis("99"),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "none",
    }


def wrk(url: str, args: argparse.Namespace, script: Path | None = None,
        env: dict[str, str] | None = None) -> dict[str, float]:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
               "--latency"]
    if script:
        command += ["-s", str(script)]
    result = subprocess.run([*command, url], capture_output=True, text=True, check=True,
                            env={**os.environ, **(env or {})})
    return parse_wrk(result.stdout)


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of the live processes in process group `pgid` (from /proc)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def redis_cpu_seconds(url: str) -> float:
    import redis as redis_lib

    info = redis_lib.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measured(run, pgid: int, redis_url: str | None) -> dict[str, float]:
    """Run one wrk scenario; add the server's CPU milliseconds per request."""
    cpu = group_cpu_seconds(pgid) + (redis_cpu_seconds(redis_url) if redis_url else 0.0)
    result = run()
    cpu = group_cpu_seconds(pgid) + (redis_cpu_seconds(redis_url) if redis_url else 0.0) - cpu
    result["cpu_ms_per_request"] = 1000 * cpu / max(result["requests"], 1)
    return result


def serve(app: str, redis_url: str, args: argparse.Namespace, metrics_dir: str,
          src: str | None = None) -> tuple:
    """gunicorn serving `app` (the agent from `src` first on the path, when given)."""
    port = free_port()
    env = agent_environment(redis_url, args.workers, Path(metrics_dir), port, {
        "AGENT_API_KEYS": API_KEY, "AGENT_RATE_LIMIT": "100000000/minute",
        "GUNICORN_THREADS": str(args.gunicorn_threads), "LOG_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join([*([src] if src else []), str(HERE)])})
    argv = [sys.executable, *GUNICORN_ARGS[:-1], app]
    process = ManagedProcess(argv, env=env, cwd=str(ROOT),
                             log_path=Path(metrics_dir) / "server.log").start()
    wait_for_http(f"http://127.0.0.1:{port}/healthz" if app.startswith("agent")
                  else f"http://127.0.0.1:{port}/hello", timeout=30)
    return process, f"http://127.0.0.1:{port}"


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per-field median over rounds (non-2xx summed)."""
    merged: dict[str, float] = {}
    for field in ("requests_per_second", "p50_ms", "p99_ms", "cpu_ms_per_request"):
        merged[field] = statistics.median(r[field] for r in runs)
    merged["non_2xx"] = sum(int(r["non_2xx"]) for r in runs)
    merged["rounds"] = [r["requests_per_second"] for r in runs]  # type: ignore[assignment]
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per scenario round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--baseline-src", help="another checkout's apps/agent/src, served as a "
                        "second agent whose message scenario runs in the same rounds")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1

    redis = RedisServer().start()
    servers, dirs = [], []
    rounds: dict[str, list[dict[str, float]]] = {}
    try:
        apps = [("ceiling", "hello_app:app", None), ("agent", "agent.wsgi:app", None)]
        if args.baseline_src:
            apps.append(("baseline", "agent.wsgi:app", args.baseline_src))
        for name, app, src in apps:
            dirs.append(tempfile.mkdtemp(prefix=f"bench-{name}-"))
            servers.append(serve(app, redis.url, args, dirs[-1], src))
        (hello_process, hello), (agent_process, agent) = servers[:2]
        hello_pgid, agent_pgid = hello_process.proc.pid, agent_process.proc.pid
        session = requests.post(f"{agent}/v1/sessions", timeout=10,
                                headers={"Authorization": f"Bearer {API_KEY}"}).json()
        scenarios = [
            ("hello (bare Flask, ceiling)", lambda: measured(
                lambda: wrk(f"{hello}/hello", args), hello_pgid, None)),
            ("agent GET /healthz", lambda: measured(
                lambda: wrk(f"{agent}/healthz", args), agent_pgid, None)),
            ("agent POST messages (builtin)", lambda: measured(lambda: wrk(
                agent, args, HERE / "post_message.lua",
                {"AGENT_KEY": API_KEY, "AGENT_SESSION": session["id"]}), agent_pgid,
                redis.url)),
        ]
        if args.baseline_src:
            (base_process, base) = servers[2]
            base_session = requests.post(f"{base}/v1/sessions", timeout=10, headers={
                "Authorization": f"Bearer {API_KEY}"}).json()
            scenarios.append(("baseline POST messages (builtin)", lambda: measured(lambda: wrk(
                base, args, HERE / "post_message.lua",
                {"AGENT_KEY": API_KEY, "AGENT_SESSION": base_session["id"]}),
                base_process.proc.pid, redis.url)))
        # Interleaved rounds, so a change in machine load hits every scenario alike; every
        # other round in reverse order, so no scenario always runs first or last (the last
        # of a round measured a few percent cheaper, the same agent against itself).
        for number in range(args.rounds):
            for name, run in scenarios if number % 2 == 0 else scenarios[::-1]:
                rounds.setdefault(name, []).append(run())
    finally:
        for process, _ in servers:
            process.stop()
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)
        redis.stop()
    results = {name: _median(runs) for name, runs in rounds.items()}

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s x {args.rounds} "
          f"interleaved rounds (medians), gunicorn "
          f"{args.workers} workers x {args.gunicorn_threads} threads, {os.cpu_count()} CPUs, "
          f"load average after the run {load}\n")
    print(f"{'scenario':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>10} "
          f"{'non-2xx':>8}  rounds req/s")
    for name, r in results.items():
        per_round = " ".join(f"{x:.0f}" for x in r["rounds"])  # type: ignore[attr-defined]
        print(f"{name:34} {r['requests_per_second']:9.0f} {r['p50_ms']:8.2f} "
              f"{r['p99_ms']:8.2f} {r['cpu_ms_per_request']:10.3f} {int(r['non_2xx']):8d}  "
              f"{per_round}")
    ceiling_name = "hello (bare Flask, ceiling)"
    for name in [n for n in results if n != ceiling_name]:
        # Each round's ratio pairs scenarios that ran seconds apart, under one machine load;
        # the ratio of the medians could pair one round's agent with another's ceiling.
        by_rate = [run["requests_per_second"] / hello["requests_per_second"]
                   for run, hello in zip(rounds[name], rounds[ceiling_name], strict=True)]
        by_cpu = [hello["cpu_ms_per_request"] / run["cpu_ms_per_request"]
                  for run, hello in zip(rounds[name], rounds[ceiling_name], strict=True)]
        results[name]["ratio_per_round"] = [round(r, 3) for r in by_rate]  # type: ignore[assignment]
        results[name]["cpu_ratio_per_round"] = [round(r, 3) for r in by_cpu]  # type: ignore[assignment]
        results[name]["ratio"] = round(statistics.median(by_rate), 3)
        results[name]["cpu_ratio"] = round(statistics.median(by_cpu), 3)
        print(f"ratio {name} / ceiling (median of the rounds' ratios): "
              f"{results[name]['ratio']:.2f} by req/s, {results[name]['cpu_ratio']:.2f} by CPU "
              f"per request (rounds: {' '.join(f'{r:.2f}' for r in by_rate)} by req/s, "
              f"{' '.join(f'{r:.2f}' for r in by_cpu)} by CPU)")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "agent.json").write_text(json.dumps({"settings": vars(args), "results": results},
                                               indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
