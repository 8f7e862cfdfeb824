"""Start and stop real services (redis-server, ...) on loopback, on free ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = REPO_ROOT / ".bin"

# The Go garbage collector's settings the suite gives its short-lived Go processes (see
# tests/conftest.py); the long-lived servers it starts run with Go's defaults instead.
SHORT_LIVED_GO = {"GOGC": "off", "GOMEMLIMIT": "1GiB"}


def server_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) for a long-lived server: without the suite's
    short-lived collector settings, so a Go server collects at Go's default pace."""
    base = os.environ if env is None else env
    return {k: v for k, v in base.items() if SHORT_LIVED_GO.get(k) != v}


class LoggedTool:
    """A pinned tool behind a script `directory/<its name>` that appends each run's arguments
    (a line) to `directory/runs.log` and execs the real binary with them: every run is a real
    one, and a test counts the runs a cache saved."""

    def __init__(self, directory: Path, real: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "runs.log"
        self.path = str(directory / Path(real).name)
        Path(self.path).write_text(f'#!/bin/sh\necho "$*" >> "{self.log}"\nexec "{real}" "$@"\n')
        os.chmod(self.path, 0o755)

    def calls(self) -> list[list[str]]:
        """The arguments of every run so far, in order."""
        return [line.split() for line in self.log.read_text().splitlines()] \
            if self.log.exists() else []


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_tool(name: str) -> str:
    """Path of a tool from .bin/ or PATH; fail (not skip) with the setup hint when missing."""
    local = BIN_DIR / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed; run `make setup` "
                           "(it installs the pinned tools)")
    return found


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def wait_for_http(url: str, timeout: float = 15.0, expect: int = 200) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == expect:
                    return
                last = resp.status
        except Exception as exc:  # polling until ready: any failure means not yet
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {expect} within {timeout}s (last: {last})")


@dataclass
class ManagedProcess:
    """A child process in its own process group, stopped (and reaped) on `stop()`. Its
    output goes to `log_path`, or to a temporary file that `stop()` removes (`output()`
    still answers afterwards)."""

    args: list[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    log_path: Path | None = None
    proc: subprocess.Popen | None = field(default=None, init=False)
    _own_log: bool = field(default=False, init=False, repr=False)
    _final_output: str = field(default="", init=False, repr=False)

    def start(self) -> ManagedProcess:
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="proc-", suffix=".log")
            os.close(fd)
            self.log_path, self._own_log = Path(name), True
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(self.args, env=server_env(self.env), cwd=self.cwd, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self

    def signal(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        if not self.proc:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self._own_log and self.log_path is not None:
            self._final_output = self.output()
            self.log_path.unlink(missing_ok=True)
            self.log_path, self._own_log = None, False
        return self.proc.returncode

    def output(self) -> str:
        if self.log_path is None:
            return self._final_output
        return self.log_path.read_text(errors="replace")


@dataclass
class RedisServer:
    """A real redis-server on a free loopback port, no persistence, in a temp dir."""

    port: int = 0
    password: str | None = None
    process: ManagedProcess | None = None
    workdir: str | None = None
    _own_workdir: bool = field(default=False, init=False, repr=False)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = require_tool("redis-server")
        self.port = self.port or free_port()
        if self.workdir is None:
            self.workdir, self._own_workdir = tempfile.mkdtemp(prefix="redis-"), True
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.workdir, "--daemonize", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = ManagedProcess(args).start()
        wait_for_port(self.port, proc=self.process.proc)
        return self

    def stop(self) -> None:
        """Stop the server and remove the temporary directory it was given."""
        if self.process:
            self.process.stop()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir, self._own_workdir = None, False

    def restart(self) -> None:
        """Start again on the same port (after `stop()`), e.g. to test outage recovery."""
        self.start()


@contextlib.contextmanager
def redis_server(password: str | None = None) -> Iterator[RedisServer]:
    server = RedisServer(password=password).start()
    try:
        yield server
    finally:
        server.stop()
