"""Client of the warm `kustodian` server (warm_server.py): one server per test process,
started on first use and stopped at exit; each run is a forked child of it.

    code, stdout, stderr = warm.run(args, cwd, env, input, timeout)

`usable(env)` says whether a run with this environment can be forked from the server: an
interpreter setting such as PYTHONPATH only takes effect at start-up, so such a run needs a
new interpreter (support.cli then starts one). KUSTODIAN_TEST_COLD=1 starts one for every
run (to compare, or to rule the server out).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SERVER = Path(__file__).with_name("warm_server.py")
# read by the interpreter at start-up only: a run that changes one needs a new interpreter
_STARTUP_ONLY = ("PYTHON", "LC_", "LANG")

_lock = threading.Lock()
_server: _Server | None = None
_files: dict[str, str] | None = None     # the runs' stdin/stdout/stderr files, reused


def _run_files() -> dict[str, str]:
    """A new private dir (removed at exit) holding a run's stdin, stdout and stderr files:
    one for all the runs of this process (they run one at a time), not one per run."""
    tmp = tempfile.mkdtemp(prefix="kustodian-run-")
    atexit.register(shutil.rmtree, tmp, True)
    return {name: os.path.join(tmp, name) for name in ("stdin", "stdout", "stderr")}


def _startup_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(_STARTUP_ONLY)}


class _Server:
    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, "-P", str(SERVER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=self.env, cwd="/")
        self.buffer = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def reply(self, deadline: float | None) -> dict | None:
        """The next reply line, or None when the deadline passed first."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError("the warm kustodian server exited")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _get() -> _Server:
    global _server
    if _server is None or not _server.alive():
        _server = _Server()
        atexit.register(_server.stop)
    return _server


def usable(env: dict[str, str]) -> bool:
    """True when a run with `env` can be forked from this process's server."""
    base = _server.env if _server is not None else os.environ
    return (os.environ.get("KUSTODIAN_TEST_COLD") != "1" and hasattr(os, "fork")
            and _startup_env(env) == _startup_env(dict(base)))


def run(args: tuple[str, ...], cwd: Path | str, env: dict[str, str], input: str | None,
        timeout: float) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `kustodian <args>`; raises subprocess.TimeoutExpired
    (after killing the run's session) like subprocess.run."""
    global _files
    with _lock:
        if _files is None:
            _files = _run_files()
        files = _files
        Path(files["stdin"]).write_text(input or "", encoding="utf-8")
        for name in ("stdout", "stderr"):
            Path(files[name]).write_bytes(b"")       # truncated: the last run's output goes
        server = _get()
        request = {"args": list(args), "cwd": os.path.abspath(cwd), "env": env, **files}
        deadline = time.monotonic() + timeout
        server.proc.stdin.write(json.dumps(request).encode() + b"\n")
        server.proc.stdin.flush()
        pid = server.reply(None)["pid"]
        done = server.reply(deadline)
        if done is None or time.monotonic() > deadline:
            # Like subprocess.run: the time counts from the request, and past it the run is
            # a timeout even when it has just ended (this process may have been descheduled
            # while it ran and read both replies at once).
            if done is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                server.reply(None)
            _files = None        # a process that left the session may still hold them
            raise subprocess.TimeoutExpired(["kustodian", *args], timeout)

        def read(name: str) -> str:
            return Path(files[name]).read_text(encoding="utf-8", errors="replace")

        return done["code"], read("stdout"), read("stderr")
