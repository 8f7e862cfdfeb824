"""Run a command and measure it: wall time, peak RSS of its whole process tree, exit code.

Peak RSS comes from `os.wait4` on the child: Linux reports the largest resident set of the
child and of every descendant it waited for (the same figure `/usr/bin/time -v` prints as
"Maximum resident set size"). One process tree per call, so runs never pollute each other.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Measurement:
    cmd: list[str]
    wall_s: float
    max_rss_mb: float
    returncode: int | None          # None: killed at the timeout
    cpu_s: float = 0.0              # user + system CPU of the whole tree (robust to load)
    load: float = 0.0               # 1-minute load average when the run started
    stdout: str = ""
    stderr: str = ""

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_measured(cmd: Sequence[str], cwd: Path | str | None = None,
                 env: dict[str, str] | None = None, timeout: float | None = None,
                 keep_output: bool = True) -> Measurement:
    """Run `cmd` to completion (or kill its process group at `timeout`) and measure it."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}

    def drain(stream, key: str) -> None:
        for block in iter(lambda: stream.read(1 << 16), b""):
            if keep_output:
                chunks[key].append(block)

    readers = [threading.Thread(target=drain, args=(proc.stdout, "out"), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, "err"), daemon=True)]
    for reader in readers:
        reader.start()
    timer = None
    killed = threading.Event()
    if timeout:
        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
        timer = threading.Timer(timeout, kill)
        timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if timer:
        timer.cancel()
    for reader in readers:
        reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(
        cmd=list(cmd), wall_s=wall, max_rss_mb=usage.ru_maxrss / 1024,
        returncode=None if killed.is_set() else proc.returncode,
        cpu_s=usage.ru_utime + usage.ru_stime, load=load,
        stdout=b"".join(chunks["out"]).decode(errors="replace"),
        stderr=b"".join(chunks["err"]).decode(errors="replace"))


@dataclass
class Series:
    """Several runs of the same measurement: min and median."""

    name: str
    runs: list[Measurement] = field(default_factory=list)

    def ok_runs(self) -> list[Measurement]:
        return [r for r in self.runs if not r.timed_out]

    def wall_min(self) -> float | None:
        ok = self.ok_runs()
        return min(r.wall_s for r in ok) if ok else None

    def wall_median(self) -> float | None:
        ok = self.ok_runs()
        return statistics.median(r.wall_s for r in ok) if ok else None

    def rss_max(self) -> float | None:
        ok = self.ok_runs()
        return max(r.max_rss_mb for r in ok) if ok else None

    def cpu_min(self) -> float | None:
        ok = self.ok_runs()
        return min(r.cpu_s for r in ok) if ok else None

    def summary(self, resources: int | None = None) -> dict:
        wall_min, wall_med = self.wall_min(), self.wall_median()
        return {
            "name": self.name,
            "runs": len(self.runs),
            "timed_out": sum(r.timed_out for r in self.runs),
            "returncodes": [r.returncode for r in self.runs],
            "wall_min_s": _r(wall_min), "wall_median_s": _r(wall_med),
            "cpu_min_s": _r(self.cpu_min()),
            "load_at_start": [round(r.load, 1) for r in self.runs],
            "peak_rss_mb": _r(self.rss_max(), 1),
            "resources": resources,
            "resources_per_s": _r(resources / wall_min, 0) if resources and wall_min else None,
        }


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def repeat(name: str, runs: int, once: Callable[[], Measurement]) -> Series:
    """Call `once` `runs` times; stop early after a timeout (it would time out again)."""
    series = Series(name)
    for _ in range(runs):
        result = once()
        series.runs.append(result)
        if result.timed_out:
            break
    return series
