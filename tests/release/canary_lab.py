"""The canary suites' lab: real gunicorn agents (one stable, one canary per scenario) scraped
by one real Prometheus (Debian binary) twice a second: the stable as job "stable" (label
track=stable), each canary as a job named after its scenario (label track=canary).

A test selects the stable's and its scenario's job (`Lab.selector`), so it sees only its own
canary; the stable agent is shared, as a real stable serves every canary. Prometheus 2.42
hands its first targets to the scrape manager only on its 5 s discovery tick, so the session
starts one lab, not one per test. Every series is warmed up once (a counter's first sample is
its baseline).
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
# scenario (scrape job) -> (gunicorn workers, extra environment) of its canary; one per test
SCENARIOS = {
    "analyze-healthy": (2, {}), "analyze-faulty": (2, FAULTY), "analyze-low": (1, {}),
    "auto-healthy": (2, {}), "auto-faulty": (2, FAULTY), "auto-low": (1, {}),
}


@contextlib.contextmanager
def prometheus(jobs: dict[str, dict[str, int]]) -> Iterator[str]:
    """A real Prometheus scraping, twice a second, 127.0.0.1:<port> for each job and track
    (job name -> track label -> port)."""
    workdir = Path(tempfile.mkdtemp(prefix="prom-"))
    config = ["global: {scrape_interval: 500ms, evaluation_interval: 500ms}",
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


def drive(agents: list, requests_each: int, threads: int = 6) -> dict[str, dict[int, int]]:
    """POST /v1/sessions `requests_each` times to every agent; status counts per agent."""
    counts: dict[str, dict[int, int]] = {a.base_url: {} for a in agents}
    lock = threading.Lock()
    jobs = [a for _ in range(requests_each) for a in agents]

    def worker(start: int) -> None:
        for agent in jobs[start::threads]:
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
    stable: AgentServer
    canaries: dict[str, AgentServer]
    sent: dict[str, dict[int, int]] = field(default_factory=dict)

    @staticmethod
    def selector(scenario: str) -> str:
        """The series of the stable and of `scenario`'s canary (a `--selector`)."""
        return f'job=~"{STABLE_JOB}|{scenario}"'

    def targets(self, scenario: str) -> list[tuple[str, str, AgentServer]]:
        """(job, track, agent) of the stable and of `scenario`'s canary."""
        return [(STABLE_JOB, "stable", self.stable), (scenario, "canary", self.canaries[scenario])]

    def load(self, scenarios: list[str], requests_each: int) -> dict[str, dict[int, int]]:
        """`requests_each` requests to the stable and to each scenario's canary; waits until
        Prometheus has scraped them; the status counts of this load per agent."""
        agents = [self.stable, *(self.canaries[s] for s in scenarios)]
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
    """A stable agent, a canary per scenario, one Prometheus scraping them (a job each) and
    every series warmed up and scraped. Prometheus starts first, on the agents' ports, so its
    discovery tick runs while the agents start."""
    ports = {name: free_port() for name in [STABLE_JOB, *scenarios]}
    with contextlib.ExitStack() as stack, contextlib.ExitStack() as scraper:
        url = scraper.enter_context(prometheus(
            {STABLE_JOB: {"stable": ports[STABLE_JOB]},
             **{name: {"canary": ports[name]} for name in scenarios}}))
        stable, *canaries = start_agents(stack, redis_url, [
            (ports[STABLE_JOB], 2, {}),
            *((ports[name], workers, env) for name, (workers, env) in scenarios.items())])
        # Prometheus stops before the agents: its keep-alive scrape connections held a
        # stopping gunicorn worker until gunicorn's graceful timeout.
        stack.callback(scraper.close)
        lab = Lab(url, stable, dict(zip(scenarios, canaries, strict=True)))
        lab.load(list(scenarios), WARMUP)
        yield lab
