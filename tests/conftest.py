"""Fixtures every suite can use. Suites keep their own fixtures in their own conftest.py."""

from __future__ import annotations

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

from support.processes import REPO_ROOT, RedisServer, require_tool  # noqa: E402

# The suite's CPU goes mostly to short-lived Go processes (kustomize, conftest: hundreds of
# runs), and a good part of theirs to Go's garbage collector at its default GOGC=100. With 400
# a kustomize build of an overlay here takes about a quarter less CPU (peak memory ~85 MB
# instead of ~70 MB); the output is the same. Only for the tests: users' runs keep Go's
# default unless they set GOGC themselves (the gate's offline kustomize env passes only GOGC
# through: kustomize/build.py offline_env).
os.environ.setdefault("GOGC", "400")

# Most kustomize builds of the suite render what an earlier test already rendered (the same
# scratch copy of this repository, checked by test after test). The gate's render cache
# (kustodian.kustomize.cache, keyed by the content of everything a build reaches) serves
# them: one temp dir for the session, made by the controller before the xdist workers start
# (they inherit the variable) and removed at its end. Builds that fail, builds with a
# symlink, FIFO or remote reference in reach and online builds are never cached, so the
# tests about those still run kustomize; tests of the cache set their own dir.
_RENDER_CACHE = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return                              # an xdist worker: the controller set it up
    directory = tempfile.mkdtemp(prefix="kustodian-test-renders-")
    config.stash[_RENDER_CACHE] = directory
    os.environ["KUSTODIAN_RENDER_CACHE"] = directory


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = config.stash.get(_RENDER_CACHE, None)
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
