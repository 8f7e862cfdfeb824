"""A warm `kustodian` for the test suite: this process imports the CLI once, then forks one
child per request, and the child runs `kustodian <args>` exactly as `python -m kustodian`
would (its own pid and session, cwd, environment, stdin/stdout/stderr files, exit status,
a traceback and exit 1 on an uncaught exception). Only the imports and the compiled pinned
schemas of common kinds are shared (install-time data; kustodian.schemas compiles each schema
file once per process, keyed by its content): the child is a copy of a process that has never
run a command, so no cache or setting carries over from one run to the next. It saves each
run the interpreter start-up, the imports and the schema compilation (about a third of a
second of CPU per run, hundreds of runs per suite).

Protocol (one JSON object per line): the client writes
    {"args": [...], "cwd": ..., "env": {...}, "stdin": path, "stdout": path, "stderr": path}
and reads {"pid": N} as soon as the child runs (to kill its session on a timeout), then
{"code": exit status} once it has ended. The server ends when its stdin closes.

Run as `python -P warm_server.py` (-P: no script dir on sys.path, like the console script).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile


def _warm() -> None:
    """Import what a `kustodian check` or release command imports (imports only: no run)."""
    import kustodian.cli
    import kustodian.discover
    import kustodian.kustomize.build
    import kustodian.pipeline
    import kustodian.prmode
    import kustodian.report
    import kustodian.schemas
    import kustodian.yamlio
    from kustodian.rules import registry

    registry.all_rules()   # the rule catalogue: fixed at install time, the same for every run
    validator = kustodian.schemas.SchemaValidator()   # the pinned schemas, like any run's
    for api_version, kind in COMMON_KINDS:
        validator.knows(api_version, kind)


# What the suite's checks validate most: this repository's kinds and Argo CD's (compiling a
# kind costs ~1-5 ms, Argo CD's Application ~17 ms, ApplicationSet ~90 ms).
COMMON_KINDS = (
    ("v1", "ConfigMap"), ("v1", "Namespace"), ("v1", "Service"), ("v1", "ServiceAccount"),
    ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("batch/v1", "CronJob"),
    ("batch/v1", "Job"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("networking.k8s.io/v1", "NetworkPolicy"), ("policy/v1", "PodDisruptionBudget"),
    ("external-secrets.io/v1", "ExternalSecret"), ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("monitoring.coreos.com/v1", "PrometheusRule"), ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("argoproj.io/v1alpha1", "Application"), ("argoproj.io/v1alpha1", "ApplicationSet"),
    ("argoproj.io/v1alpha1", "AppProject"),
)


def _become(request: dict) -> None:
    """In the forked child: take the request's session, cwd, environment and files."""
    os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None          # TMPDIR as the run's environment says, like a new process
    for fd, (path, flags) in enumerate(((request["stdin"], os.O_RDONLY),
                                        (request["stdout"], os.O_WRONLY),
                                        (request["stderr"], os.O_WRONLY))):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    # text streams as a new interpreter makes them for files and pipes
    sys.stdin = open(0, encoding=None, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding=None, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding=None, errors="backslashreplace", closefd=False,  # noqa: SIM115
                      buffering=1)
    sys.argv = ["kustodian", *request["args"]]


def serve() -> None:
    _warm()
    # What the children inherit stays where it is: frozen objects are never scanned by a
    # child's garbage collector, so their memory pages are not copied into every child.
    gc.freeze()
    requests = sys.stdin.buffer
    replies = sys.stdout.buffer
    while line := requests.readline():
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _become(request)
            from kustodian.cli import main

            main()    # exits (os._exit / SystemExit) like `python -m kustodian`
            return    # (main never returns; if it did, the interpreter exits 0)
        replies.write(json.dumps({"pid": pid}).encode() + b"\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    serve()
