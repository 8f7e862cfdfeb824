"""agent.linebatch: access lines reach stdout whole, in order, within the delay, and at exit."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time

import pytest
from agent.linebatch import LineBatcher
from agent_helpers import eventually
from support.processes import REPO_ROOT


class Recorder(io.StringIO):
    """A stdout that remembers each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


def test_without_a_delay_each_line_is_written_at_once() -> None:
    stdout = Recorder()
    lines = LineBatcher(0, stream=stdout)
    lines.write("one\n")
    lines.write("two\n")
    assert stdout.writes == ["one\n", "two\n"]


def test_lines_are_written_together_within_the_delay() -> None:
    stdout = Recorder()
    lines = LineBatcher(0.5, stream=stdout)
    for word in ("one", "two", "three"):
        lines.write(word + "\n")
    assert stdout.writes == []  # waiting for the flusher
    eventually(lambda: len(stdout.writes) == 1, timeout=5)
    assert stdout.writes == ["one\ntwo\nthree\n"]
    lines.write("four\n")  # the flusher serves the next batch too
    eventually(lambda: len(stdout.writes) == 2, timeout=5)
    assert stdout.writes[1] == "four\n"


def test_the_flusher_thread_ends_when_no_line_is_left() -> None:
    """An idle process keeps no flusher thread; the next line starts one again."""
    stdout = Recorder()
    lines = LineBatcher(0.05, stream=stdout)
    lines.write("one\n")
    flusher = lines._flusher
    assert flusher is not None and flusher.daemon
    eventually(lambda: not flusher.is_alive(), timeout=5)
    assert stdout.writes == ["one\n"]
    lines.write("two\n")
    eventually(lambda: stdout.writes == ["one\n", "two\n"], timeout=5)


def test_a_full_batch_is_written_at_once() -> None:
    stdout = Recorder()
    lines = LineBatcher(60, max_chars=12, stream=stdout)
    lines.write("12345\n")
    assert stdout.writes == []
    lines.write("67890\n")
    assert stdout.writes == ["12345\n67890\n"]


def test_flush_writes_what_waits() -> None:
    stdout = Recorder()
    lines = LineBatcher(60, stream=stdout)
    lines.write("kept\n")
    lines.flush()
    lines.flush()  # nothing left: no empty write
    assert stdout.writes == ["kept\n"]


def test_a_closed_stream_is_not_the_callers_error() -> None:
    closed = io.StringIO()
    closed.close()
    lines = LineBatcher(60, stream=closed)
    lines.write("lost\n")
    lines.flush()  # the stream is gone: the line has nowhere to go, and the caller goes on
    LineBatcher(0, stream=closed).write("lost too\n")


def test_without_a_thread_to_spare_lines_are_written_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no thread can be started (a pids limit), a line is written at once instead of
    failing its request."""
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    stdout = Recorder()
    lines = LineBatcher(60, stream=stdout)
    lines.write("one\n")
    lines.write("two\n")
    assert stdout.writes == ["one\n", "two\n"]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "apps" / "agent" / "src")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=True)


def test_waiting_lines_are_written_when_the_process_exits() -> None:
    started = time.monotonic()
    result = _python("from agent.linebatch import LineBatcher\n"
                     "lines = LineBatcher(60)\n"
                     "lines.write('first\\n'); lines.write('last\\n')\n")
    assert result.stdout == "first\nlast\n"
    assert time.monotonic() - started < 30  # written at exit, not after the 60 s delay


def test_a_forked_child_writes_only_its_own_lines() -> None:
    """gunicorn forks its workers: the parent's waiting lines stay the parent's."""
    result = _python("import os\n"
                     "from agent.linebatch import LineBatcher\n"
                     "lines = LineBatcher(60)\n"
                     "lines.write('parent\\n')\n"
                     "pid = os.fork()\n"
                     "if pid == 0:\n"
                     "    lines.write('child\\n'); lines.flush(); os._exit(0)\n"
                     "os.waitpid(pid, 0)\n")
    assert result.stdout == "child\nparent\n"
