"""The Dockerfile, without a Docker engine: hadolint at zero warnings, and what it builds and
runs exists: COPY sources (not excluded by .dockerignore), the CMD's config module and WSGI
app, the HEALTHCHECK command (run for real against a running agent)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tomllib

import dockerfile
import pytest
from support.agent import agent_server
from support.processes import REPO_ROOT, free_port

DOCKERFILE = REPO_ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs as BuildKit's parser reads them (continuations joined,
    comments dropped)."""
    return [(c.cmd.upper(), c.original.split(None, 1)[1].strip() if " " in c.original else "")
            for c in dockerfile.parse_file(str(DOCKERFILE))]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instr in instructions():
        if instr[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instr)
    return found


def test_hadolint_reports_nothing() -> None:
    hadolint = REPO_ROOT / ".venv" / "bin" / "hadolint"
    result = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout


def test_bases_are_pinned_by_tag_and_digest() -> None:
    froms = [args for word, args in instructions() if word == "FROM"]
    assert len(froms) >= 2, "multi-stage: a builder and a runtime stage"
    for args in froms:
        assert re.match(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64} AS \w+$", args), args


def test_runtime_stage_is_hardened() -> None:
    runtime = stages()[-1]
    words = [w for w, _ in runtime]
    text = "\n".join(f"{w} {a}" for w, a in runtime)
    assert ("USER", "10001:10001") in runtime
    assert ("EXPOSE", "8000") in runtime
    assert "HEALTHCHECK" in words
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")
    assert "COPY --from=builder /opt/venv /opt/venv" in text
    assert not re.search(r"gcc|build-essential|apt-get install|pip install|pip wheel", text)
    assert "PROMETHEUS_MULTIPROC_DIR=/var/run/agent-metrics" in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    for label in ("title", "source", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{label}=" in text


def _dockerignore_allows(path: str) -> bool:
    allowed = True
    for raw in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", ""))
               for p in prefixes):
            allowed = negate
    return allowed


def test_copy_sources_exist_and_are_in_the_build_context() -> None:
    copies = [shlex.split(args) for word, args in instructions() if word == "COPY"]
    local = [c for c in copies if not any(a.startswith("--from=") for a in c)]
    assert local
    for args in local:
        for source in [a for a in args if not a.startswith("--")][:-1]:
            assert (REPO_ROOT / source).exists(), source
            assert _dockerignore_allows(source), f"{source} is excluded by .dockerignore"
    assert not _dockerignore_allows(".venv/bin/python")
    assert not _dockerignore_allows("tests/conftest.py")


def test_builder_installs_the_current_agent_version() -> None:
    version = tomllib.loads((REPO_ROOT / "apps/agent/pyproject.toml").read_text())[
        "project"]["version"]
    assert f"agent=={version}" in DOCKERFILE.read_text()
    assert f"ARG VERSION={version}" in DOCKERFILE.read_text()


def _exec_form(word: str) -> list[str]:
    return json.loads(next(args for w, args in instructions() if w == word))


def test_entrypoint_and_cmd_resolve_in_the_venv(tmp_path) -> None:
    command = _exec_form("ENTRYPOINT") + _exec_form("CMD")
    assert command[0] == "gunicorn" and (REPO_ROOT / ".venv/bin/gunicorn").exists()
    config = next(a.split(":", 1)[1] for a in command if a.startswith("python:"))
    module, attribute = command[-1].split(":")
    probe = (f"import importlib; importlib.import_module({config!r}); "
             f"app = getattr(importlib.import_module({module!r}), {attribute!r}); "
             "assert callable(app); print('ok')")
    env = {"REDIS_URL": "redis://127.0.0.1:1/0", "AGENT_API_KEYS": "key-aaaaaaaa",
           "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                            text=True, timeout=60, cwd="/")
    assert result.stdout.strip() == "ok", result.stderr
    assert not list(tmp_path.iterdir())  # importing the gunicorn config creates nothing


@pytest.mark.parametrize("healthy", [True, False])
def test_healthcheck_command_probes_healthz(module_redis, healthy: bool) -> None:
    healthcheck = next(args for w, args in instructions() if w == "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
    assert command[0] == "python"

    def probe(port: int) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *command[1:]], env={"PORT": str(port)},
                              capture_output=True, timeout=30)

    if healthy:
        with agent_server(module_redis.url, workers=1) as agent:
            result = probe(agent.port)
    else:
        result = probe(free_port())  # nothing listens there
    assert (result.returncode == 0) is healthy
