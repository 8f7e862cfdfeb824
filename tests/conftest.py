"""Fixtures every suite can use. Suites keep their own fixtures in their own conftest.py."""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(_TESTS))
# tests/kustodian/ (a folder of tests) must never shadow the kustodian package: the package's
# own directory goes first, so in-process imports get the real thing.
sys.path.insert(0, str(_TESTS.parent / "tools"))

from support.processes import (  # noqa: E402
    REPO_ROOT,
    SHORT_LIVED_GO,
    RedisServer,
    require_tool,
)

# The suite's CPU goes mostly to short-lived Go processes (kustomize, conftest: hundreds of
# runs), and a good part of theirs to Go's garbage collector. A process that lives a fraction of
# a second need not collect at all: with GOGC=off it collects only near its soft memory limit
# (GOMEMLIMIT). A kustomize build of an overlay here then takes ~40% less CPU than at Go's
# default, conftest over this repository's rendered overlays ~60% less (~25% less than at
# GOGC=400), for 50-100 MB more memory each; the outputs are the same. Only for the tests:
# users' runs keep Go's default unless they set GOGC themselves (the gate's offline kustomize
# env passes only GOGC through, kustomize/build.py offline_env; its data memory limit still
# bounds a build). The long-lived servers the suite starts (support.processes.ManagedProcess:
# Prometheus; tests/e2e: the cluster) run with Go's defaults.
for _key, _value in SHORT_LIVED_GO.items():
    os.environ.setdefault(_key, _value)

# Most kustomize builds of the suite render what an earlier test already rendered (the same
# scratch copy of this repository, checked by test after test). The gate's render cache
# (kustodian.kustomize.cache, keyed by the content of everything a build reaches) serves
# them: one temp dir for the session, made by the controller before the xdist workers start
# (they inherit the variable) and removed at its end. Builds that fail, builds with a
# symlink, FIFO or remote reference in reach and online builds are never cached, so the
# tests about those still run kustomize; tests of the cache set their own dir. The same dir
# keeps conftest's result per input file (kustodian.conftest_runner's policy cache); failed
# evaluations are never stored, so the tests of conftest failures still run conftest.
_RENDER_CACHE = pytest.StashKey[str]()


# Temp files on a RAM file system. The suite creates and removes tens of thousands of small
# files (scratch repositories and their copies, the trees PR mode writes out, reports); on
# this machine's disk file system a file creation takes ~1.5 ms while the disk is busy, on
# tmpfs a tenth of that (the gate's suites ran 2-2.7x faster under load). Unless the
# operator chose (TMPDIR or PYTEST_DEBUG_TEMPROOT set), the controller points TMPDIR at a
# session dir of its own on /dev/shm (a writable, exec-able tmpfs with room; removed at the
# end) and pytest's tmp_path root at /dev/shm (pytest keeps a failed test's dir there).
_RAM = "/dev/shm"
_SESSION_TMP = pytest.StashKey[str]()


def _ram_usable() -> bool:
    if "TMPDIR" in os.environ or "PYTEST_DEBUG_TEMPROOT" in os.environ:
        return False
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            entry = next((line.split() for line in mounts if line.split()[1:2] == [_RAM]), None)
        free = os.statvfs(_RAM)
    except OSError:
        return False
    return (entry is not None and entry[2] == "tmpfs" and "noexec" not in entry[3].split(",")
            and os.access(_RAM, os.W_OK | os.X_OK)
            and free.f_bavail * free.f_frsize >= 4 * 2**30)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return                              # an xdist worker: the controller set it up
    if _ram_usable():
        session = tempfile.mkdtemp(prefix="kustodian-tests-", dir=_RAM)
        config.stash[_SESSION_TMP] = session
        os.environ["TMPDIR"] = session
        os.environ["PYTEST_DEBUG_TEMPROOT"] = _RAM
        tempfile.tempdir = None                     # gettempdir() reads TMPDIR again
    directory = tempfile.mkdtemp(prefix="kustodian-test-renders-")
    config.stash[_RENDER_CACHE] = directory
    os.environ["KUSTODIAN_RENDER_CACHE"] = directory


# Packages whose tests share one costly package-scoped fixture run first. Under xdist's
# worksteal scheduling the collection is cut into one even slice per worker, and a worker
# that runs out steals from the end of another's queue: tests at the very front all go to
# the first worker and are never stolen, so their fixture starts once (the canary lab, 7-10
# CPU-s to start, was started by two workers whenever a steal split its package), and their
# long tests start at once rather than late in the run.
_RUN_FIRST = (_TESTS / "release" / "canary",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not any(item.path.is_relative_to(p) for p in _RUN_FIRST))


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collected modules, tests and fixtures definitions live as long as the session:
    frozen, they are not traversed again by each of the worker's full garbage collections."""
    gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    for key in (_RENDER_CACHE, _SESSION_TMP):
        directory = config.stash.get(key, None)
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def kustomize_bin() -> str:
    return require_tool("kustomize")


@pytest.fixture(scope="session")
def conftest_bin() -> str:
    return require_tool("conftest")


@pytest.fixture
def redis():
    """A fresh real redis-server on a free loopback port; stopped after the test."""
    server = RedisServer().start()
    yield server
    server.stop()
