"""Prometheus metrics, correct under gunicorn's pre-fork workers (multiprocess mode).

When PROMETHEUS_MULTIPROC_DIR is set (in the environment, where prometheus_client reads it
when imported; gunicorn_config makes one when unset), every worker writes its samples to files
there and /metrics aggregates all workers (`Settings.metrics_dir`); dead workers are cleaned
up by the `child_exit` hook. Without it (tests, flask dev server) the default registry is used.
"""

from __future__ import annotations

import glob
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client import multiprocess as prom_multiprocess

_pid = os.getpid()


def process_id() -> int:
    """This process's id without a system call: read once, and again in each forked child."""
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)
if getattr(values.ValueClass, "_multiprocess", False):
    # prometheus_client looks the pid up before every sample it writes (to notice a fork):
    # os.getpid, a system call, six per message. Its documented hook for that lookup gets
    # `process_id`. Set before the first metric below is made (this module makes them all).
    values.ValueClass = values.MultiProcessValue(process_identifier=process_id)

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "http_requests", "HTTP requests answered, by route template and status.",
    ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
LLM_CALLS = Counter(
    "agent_llm_calls", "Agent backend calls, by outcome (ok, error, timeout).",
    ["backend", "model", "outcome"])
TOKENS = Counter(
    "agent_tokens", "Approximate tokens processed by the agent backend (kind: prompt|completion).",
    ["backend", "model", "kind"])
SESSIONS_ACTIVE = Gauge(
    "agent_sessions_active", "Sessions alive in Redis (as last counted by any live worker).",
    multiprocess_mode="livemostrecent")
BUILD_INFO = Gauge(
    "agent_build_info", "Build of the running agent; the value is always 1.",
    ["version", "git_sha", "build_date"], multiprocess_mode="max")


def method_label(method: str) -> str:
    """Bounded label for the HTTP method (unknown verbs collapse to OTHER)."""
    return method if method in HTTP_METHODS else "OTHER"


_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count and time one request (label children cached: the label sets are bounded)."""
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        label = method_label(method)
        children = (HTTP_REQUESTS.labels(label, route, str(status)),
                    HTTP_DURATION.labels(label, route))
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


_llm_children: dict[tuple[str, str, str], tuple[Counter, Counter, Counter]] = {}


def record_llm_call(backend: str, model: str, outcome: str,
                    prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
    """Count one backend call and its tokens (label children cached, as above)."""
    key = (backend, model, outcome)
    children = _llm_children.get(key)
    if children is None:
        children = (LLM_CALLS.labels(backend, model, outcome),
                    TOKENS.labels(backend, model, "prompt"),
                    TOKENS.labels(backend, model, "completion"))
        _llm_children[key] = children
    children[0].inc()
    if prompt_tokens:
        children[1].inc(prompt_tokens)
    if completion_tokens:
        children[2].inc(completion_tokens)


class _WorkersCollector(prom_multiprocess.MultiProcessCollector):
    """prometheus_client's collector of the workers' sample files, minus the empty ones.

    A worker creates each sample file empty and sizes it a moment later; prometheus_client
    reads an empty file as a corrupt one and fails the whole scrape (prometheus/client_python
    issue 1199, open): a worker booting during a scrape (each one gunicorn starts or
    recycles) answered /metrics with a 500, and one killed in that moment left the empty file
    behind, failing every scrape after. An empty file holds no sample yet, so it is skipped."""

    def collect(self):  # type: ignore[no-untyped-def]
        files = [f for f in glob.glob(os.path.join(self._path, "*.db"))
                 if _holds_samples(f)]
        return self.merge(files, accumulate=True)


def _holds_samples(path: str) -> bool:
    try:
        return os.stat(path).st_size > 0
    except FileNotFoundError:       # a dead worker's live gauges, removed meanwhile
        return False


def render(multiprocess_dir: str | None) -> tuple[bytes, str]:
    """The exposition text of this process, or of all gunicorn workers whose samples are in
    `multiprocess_dir`."""
    if multiprocess_dir:
        registry = CollectorRegistry()
        _WorkersCollector(registry, path=multiprocess_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
