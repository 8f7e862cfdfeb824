"""The canary suites' lab: real gunicorn agents (a stable and a canary per scenario) scraped
by one real Prometheus (Debian binary) once a second: each canary as a job named after its
scenario (label track=canary), its stable as job "stable-<scenario>" (label track=stable).

A test selects its scenario's two jobs (`Lab.selector`), so it sees only its own canary and
its own stable. A stable per scenario, with the canary's worker count, keeps the p95 latency
ratio a comparison of two agents under the same load: a stable shared by the tests carried
their earlier traffic in its 5 m window, taken under another load, and a healthy canary failed
the ratio now and then under a loaded machine. Prometheus 2.42 hands its first targets to the
scrape manager only on its 5 s discovery tick, so one lab serves the package's tests, not one
per test. Every series is warmed up once (a counter's first sample is its baseline).

What the lab costs is its start (~7 CPU-s: 12 gunicorn masters, 20 workers, Prometheus) and,
while it lives, the scrapes (~0.1 CPU-s per second at a 500 ms interval, ~0.06 at 1 s, next
to nothing between scrapes). Hence the package-scoped fixture (conftest.py: the lab stops as
soon as a worker's next test is outside the package, not when the worker ends) and the 1 s
interval: the tests wait for what they need scraped (`Lab.wait_scraped`), so a longer interval
costs each load half an interval on average, no correctness.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from support.agent import AgentServer, agent_server
from support.processes import ManagedProcess, free_port, require_tool, wait_for_http

# No rate limit to hit; the graceful timeout bounds how long a stopping worker is waited for.
AGENT_ENV = {"AGENT_RATE_LIMIT": "1000000/minute", "GUNICORN_GRACEFUL_TIMEOUT": "3"}
WARMUP = 50        # requests per agent before any test: a faulty canary answers 500 in them
FAULTY = {"AGENT_FAULT_RATE": "0.2"}
STABLE_JOB = "stable"
# Requests a second, over all the agents of a load. The gate compares the canary's p95 latency
# with its stable's: a load sent as fast as possible lasts about a second here, and one stall
# of a few hundred milliseconds (the machine's other processes) then slows more than 5% of
# one agent's requests, which moved a healthy canary's p95 past 3x its stable's now and then.
# Spread over seconds, as real traffic is, a stall that long touches under 5% of either side.
LOAD_RATE = 100.0
SCRAPE_INTERVAL = "1s"     # see the module's docstring


def stable_job(scenario: str) -> str:
    """The scrape job of `scenario`'s stable."""
    return f"{STABLE_JOB}-{scenario}"

# scenario (scrape job) -> (gunicorn workers, extra environment) of its canary; one per test
SCENARIOS = {
    "analyze-healthy": (2, {}), "analyze-faulty": (2, FAULTY), "analyze-low": (1, {}),
    "auto-healthy": (2, {}), "auto-faulty": (2, FAULTY), "auto-low": (1, {}),
}


@contextlib.contextmanager
def prometheus(jobs: dict[str, dict[str, int]]) -> Iterator[str]:
    """A real Prometheus scraping, every SCRAPE_INTERVAL, 127.0.0.1:<port> for each job and track
    (job name -> track label -> port)."""
    workdir = Path(tempfile.mkdtemp(prefix="prom-"))
    config = [f"global: {{scrape_interval: {SCRAPE_INTERVAL}, "
              f"evaluation_interval: {SCRAPE_INTERVAL}}}",
              "scrape_configs:" if jobs else "scrape_configs: []"]
    for job, targets in jobs.items():
        config += [f"  - job_name: {job}", "    static_configs:"]
        config += [f"      - targets: ['127.0.0.1:{port}']\n        labels: {{track: {track}}}"
                   for track, port in targets.items()]
    (workdir / "prometheus.yml").write_text("\n".join(config) + "\n")
    port = free_port()
    proc = ManagedProcess([require_tool("prometheus"),
                           f"--config.file={workdir / 'prometheus.yml'}",
                           f"--storage.tsdb.path={workdir / 'data'}",
                           f"--web.listen-address=127.0.0.1:{port}"]).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/-/ready", timeout=30)
        yield url
    finally:
        proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def query(url: str, promql: str) -> float:
    endpoint = f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(endpoint, timeout=5) as resp:
        result = json.load(resp)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def drive(agents: list, requests_each: int, threads: int = 6,
          per_second: float = LOAD_RATE) -> dict[str, dict[int, int]]:
    """POST /v1/sessions `requests_each` times to every agent, interleaved, the i-th request
    sent no earlier than i / `per_second` seconds after the first; status counts per agent."""
    counts: dict[str, dict[int, int]] = {a.base_url: {} for a in agents}
    lock = threading.Lock()
    jobs = [a for _ in range(requests_each) for a in agents]
    start_at = time.monotonic()

    def worker(first: int) -> None:
        for index in range(first, len(jobs), threads):
            agent = jobs[index]
            time.sleep(max(0.0, start_at + index / per_second - time.monotonic()))
            req = urllib.request.Request(agent.url("/v1/sessions"), data=b"{}", method="POST",
                                         headers={**agent.headers(),
                                                  "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            with lock:
                counts[agent.base_url][status] = counts[agent.base_url].get(status, 0) + 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return counts


def scraped(url: str, job: str, track: str, status: str) -> float:
    return query(url, f'sum(http_requests_total{{job="{job}",track="{track}",'
                      f'route="/v1/sessions",status=~"{status}"}})')


@dataclass
class Lab:
    """The session's agents and Prometheus; `sent` counts every request made to each agent
    (base URL -> status -> count), so a test can wait until Prometheus has scraped them all."""

    url: str
    stables: dict[str, AgentServer]
    canaries: dict[str, AgentServer]
    sent: dict[str, dict[int, int]] = field(default_factory=dict)

    @staticmethod
    def selector(scenario: str) -> str:
        """The series of the stable and of `scenario`'s canary (a `--selector`)."""
        return f'job=~"{stable_job(scenario)}|{scenario}"'

    def targets(self, scenario: str) -> list[tuple[str, str, AgentServer]]:
        """(job, track, agent) of `scenario`'s stable and canary."""
        return [(stable_job(scenario), "stable", self.stables[scenario]),
                (scenario, "canary", self.canaries[scenario])]

    def load(self, scenarios: list[str], requests_each: int) -> dict[str, dict[int, int]]:
        """`requests_each` requests to each scenario's stable and canary (interleaved, paced at
        LOAD_RATE a second); waits until Prometheus has scraped them; the status counts of
        this load per agent."""
        agents = [agent for s in scenarios for agent in (self.stables[s], self.canaries[s])]
        counts = drive(agents, requests_each)
        for base, statuses in counts.items():
            total = self.sent.setdefault(base, {})
            for status, n in statuses.items():
                total[status] = total.get(status, 0) + n
        for scenario in scenarios:
            self.wait_scraped(scenario)
        return counts

    def wait_scraped(self, scenario: str) -> None:
        """Poll Prometheus until it has scraped every request counted to the stable and to
        `scenario`'s canary."""
        deadline = time.monotonic() + 60
        while True:
            missing = [(job, status, n) for job, track, agent in self.targets(scenario)
                       for status, n in self.sent[agent.base_url].items()
                       if scraped(self.url, job, track, str(status)) < n]
            if not missing:
                return
            assert time.monotonic() < deadline, \
                f"Prometheus did not scrape the load of {scenario}: {missing}"
            time.sleep(0.2)


def start_agents(stack: contextlib.ExitStack, redis_url: str,
                 specs: list[tuple[int, int, dict[str, str]]]) -> list[AgentServer]:
    """Start one agent per (port, workers, env) at once; each is stopped (and reaped) when
    `stack` closes, all of them told to stop first so their stops overlap."""
    managers = [agent_server(redis_url, workers=w, env={**AGENT_ENV, **env}, port=port)
                for port, w, env in specs]
    with ThreadPoolExecutor(len(managers)) as pool:
        entered = [pool.submit(m.__enter__) for m in managers]
    agents = []
    for manager, future in zip(managers, entered, strict=True):
        if future.exception() is None:
            stack.push(manager.__exit__)
            agents.append(future.result())
    for future in entered:
        if future.exception() is not None:
            raise future.exception()

    @stack.callback
    def stop_all() -> None:
        for agent in agents:
            agent.process.signal(signal.SIGTERM)
    return agents


@contextlib.contextmanager
def start_lab(redis_url: str, scenarios: dict[str, tuple[int, dict[str, str]]]) -> Iterator[Lab]:
    """A stable and a canary agent per scenario, one Prometheus scraping them (a job each)
    and every series warmed up and scraped. Prometheus starts first, on the agents' ports, so
    its discovery tick runs while the agents start."""
    jobs = [job for name in scenarios for job in (stable_job(name), name)]
    ports = {job: free_port() for job in jobs}
    with contextlib.ExitStack() as stack, contextlib.ExitStack() as scraper:
        url = scraper.enter_context(prometheus(
            {job: {"stable" if job.startswith(f"{STABLE_JOB}-") else "canary": ports[job]}
             for job in jobs}))
        agents = start_agents(stack, redis_url, [
            spec for name, (workers, env) in scenarios.items()
            for spec in ((ports[stable_job(name)], workers, {}), (ports[name], workers, env))])
        stables, canaries = agents[0::2], agents[1::2]
        # Prometheus stops before the agents: its keep-alive scrape connections held a
        # stopping gunicorn worker until gunicorn's graceful timeout.
        stack.callback(scraper.close)
        lab = Lab(url, dict(zip(scenarios, stables, strict=True)),
                  dict(zip(scenarios, canaries, strict=True)))
        lab.load(list(scenarios), WARMUP)
        yield lab
