"""The single kustomize runner: the pinned `kustomize build`, in parallel, with origins.

Each overlay is built through a throw-away wrapper kustomization in a temp dir
(`resources: [<overlay>]`, `buildMetadata: [originAnnotations]`), so the user's files are
never edited and every rendered resource names the file it was declared in.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from kustodian.errors import KustodianError
from kustodian.kustomize.cache import RenderCache

KUSTOMIZE_TIMEOUT = 120      # seconds of wall and CPU time per build
KUSTOMIZE_MEMORY_MB = 1024   # heap per build (this repository's builds need under 100 MB)


@dataclass
class Rendered:
    """The output of one `kustomize build` (with origin annotations), or its error."""

    overlay: Path
    display: str
    text: str = ""
    wrapper_dir: str = ""
    error: KustodianError | None = None
    seconds: float = 0.0


TOOL_HOME = Path(__file__).resolve().parents[3]   # the repository kustodian is installed from


def find_tool(name: str, root: Path | None = None) -> str | None:
    """The gate's own `<install>/.bin/<name>`, else PATH - never the checked tree: a tool
    committed to the repository under check (`.bin/kustomize`, a relative PATH entry) must
    not run. `root` is the checked tree, excluded from the PATH search."""
    own = TOOL_HOME / ".bin" / name
    if own.is_file() and os.access(own, os.X_OK):
        return str(own)
    excluded = [os.path.realpath(root)] if root is not None else []
    if root is not None and os.path.realpath(root) == os.path.realpath(TOOL_HOME):
        excluded = []   # the gate checking its own repository: its .bin is the install dir
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue   # "", "." or "bin": relative to wherever the gate happens to run
        real = os.path.realpath(entry)
        if any(real == ex or real.startswith(ex + os.sep) for ex in excluded):
            continue
        candidate = os.path.join(entry, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_kustomize(root: Path | None = None) -> str:
    """The pinned kustomize (see `find_tool`)."""
    found = find_tool("kustomize", root)
    if not found:
        raise KustodianError("kustomize is not installed",
                             hint="run `make setup` (installs the pinned kustomize in .bin/)")
    return found


def render(overlay: Path, display: str, kustomize: str, *, origins: bool = False,
           online: bool = False, cache: RenderCache | None = None) -> Rendered:
    """`kustomize build` of one overlay, exactly as a user runs it; never raises.

    `origins=True` builds it through a wrapper kustomization with origin annotations
    instead (about twice kustomize's CPU time, so only used when `sourcemap` cannot tell a
    resource's origin file by itself). `cache`: take a direct offline build's output from
    the render cache when its inputs are unchanged, store it there after a successful build
    (see `kustomize.cache`).
    """
    if not origins:
        return _render_direct(overlay, display, kustomize, online,
                              None if online else cache)
    started = time.perf_counter()
    wrapper = tempfile.mkdtemp(prefix="kustodian-render-")
    real_wrapper = os.path.realpath(wrapper)
    try:
        rel = os.path.relpath(os.path.realpath(overlay), real_wrapper)
        Path(real_wrapper, "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {rel}\nbuildMetadata: [originAnnotations]\n", encoding="utf-8")
        proc, error = _kustomize_build(kustomize, real_wrapper, display, online)
        if proc is not None and proc.returncode != 0:
            error = _build_failed(_clean_error(proc.stderr or proc.stdout, real_wrapper, rel,
                                               display), display)
        if error is not None:
            return Rendered(overlay, display, error=error, seconds=time.perf_counter() - started)
        return Rendered(overlay, display, proc.stdout, real_wrapper,
                        seconds=time.perf_counter() - started)
    finally:
        shutil.rmtree(real_wrapper, ignore_errors=True)


def build_text(overlay: Path, root: Path) -> str:
    """`kustomize build` of one dir of the tree `root` with the pinned kustomize (and the
    operator's render cache); its output, or the KustodianError saying why it failed."""
    result = render(overlay, str(overlay), find_kustomize(root),
                    cache=RenderCache.for_tree(root))
    if result.error is not None:
        raise result.error
    return result.text


def _render_direct(overlay: Path, display: str, kustomize: str, online: bool = False,
                   cache: RenderCache | None = None) -> Rendered:
    started = time.perf_counter()
    key = cache.key(overlay, kustomize, "build") if cache is not None else None
    if key is not None and (text := cache.get(key)) is not None:
        return Rendered(overlay, display, text, seconds=time.perf_counter() - started)
    proc, error = _kustomize_build(kustomize, str(overlay), display, online)
    if proc is not None and proc.returncode != 0:
        real = os.path.realpath(overlay)
        error = _build_failed(re.sub(r"\s+", " ", (proc.stderr or proc.stdout).strip().removeprefix(
            "Error: ").replace(real, display).replace(str(overlay), display))[:2000], display)
    if error is not None:
        return Rendered(overlay, display, error=error, seconds=time.perf_counter() - started)
    if key is not None and cache.key(overlay, kustomize, "build") == key:
        cache.put(key, proc.stdout)   # the inputs did not change while kustomize ran
    return Rendered(overlay, display, proc.stdout, seconds=time.perf_counter() - started)


def render_limits() -> tuple[int, int]:
    """(seconds, megabytes) one kustomize build may take: wall and CPU time, data memory.
    KUSTODIAN_RENDER_TIMEOUT_S / KUSTODIAN_RENDER_MEMORY_MB override them (the operator's
    environment, never the checked repository)."""
    def read(name: str, default: int) -> int:
        try:
            return max(1, int(os.environ.get(name, default)))
        except ValueError:
            return default

    return read("KUSTODIAN_RENDER_TIMEOUT_S", KUSTOMIZE_TIMEOUT), read(
        "KUSTODIAN_RENDER_MEMORY_MB", KUSTOMIZE_MEMORY_MB)


_OOM = re.compile(r"fatal error: (runtime: )?(out of memory|cannot allocate memory)")


def offline_env() -> dict[str, str]:
    """The environment kustomize renders in: no network, no git, no user config. Proxies
    point at a closed loopback port (HTTP fetches fail at once instead of hanging), PATH is
    empty (no `git` for remote bases, no plugins or helm), HOME is a dir that does not exist.
    Only GOGC passes through from the operator's environment: it tunes the Go garbage
    collector's CPU/memory trade-off and changes nothing kustomize outputs (the data memory
    limit still bounds the build)."""
    dead = "http://127.0.0.1:9"
    env = {"PATH": "", "HOME": "/nonexistent", "XDG_CONFIG_HOME": "/nonexistent",
           "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "NO_PROXY": "",
           "no_proxy": "", "LANG": "C"}
    if os.environ.get("GOGC"):
        env["GOGC"] = os.environ["GOGC"]
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[key] = env[key.lower()] = dead
    return env


def _kustomize_build(kustomize: str, target: str, display: str, online: bool = False
                     ) -> tuple[subprocess.CompletedProcess | None, KustodianError | None]:
    """Run `kustomize build target` offline (unless `online`: remote references the repo
    config allows, pinned) and bounded (render_limits): (the finished process, None) or
    (None, why it did not run to completion)."""
    seconds, megabytes = render_limits()
    args = [kustomize, "build", target]
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=None if online else offline_env(),
                                stdin=subprocess.DEVNULL)
    except OSError as exc:
        return None, KustodianError(f"cannot run kustomize: {exc.strerror}", file=display,
                                    hint="run `make setup`")
    try:   # limits set on the child right after it starts (preexec_fn is unsafe in threads)
        # RLIMIT_DATA, not RLIMIT_AS: the Go runtime reserves address space it never uses,
        # so an address-space cap fails ordinary builds at random; the data limit counts
        # what the heap really maps
        resource.prlimit(proc.pid, resource.RLIMIT_DATA, (megabytes << 20, megabytes << 20))
        resource.prlimit(proc.pid, resource.RLIMIT_CPU, (seconds, seconds + 5))
    except (OSError, ValueError):
        pass   # the child already exited
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, KustodianError(
            f"kustomize build did not finish within {seconds}s", file=display,
            hint="a render is bounded in time; look for inputs that never end (a FIFO, a "
                 "device) or grow without bound (YAML alias bombs)")
    if proc.returncode != 0 and (_OOM.search(err) or proc.returncode == -signal.SIGXCPU
                                 or proc.returncode == -signal.SIGKILL):
        what = (f"its CPU time limit ({seconds}s)" if proc.returncode == -signal.SIGXCPU
                else f"its memory limit ({megabytes} MB)")
        return None, KustodianError(
            f"kustomize build exceeded {what}", file=display,
            hint="an input expands without bound (a YAML alias bomb, a huge generated file); "
                 "limits: KUSTODIAN_RENDER_MEMORY_MB, KUSTODIAN_RENDER_TIMEOUT_S")
    return subprocess.CompletedProcess(args, proc.returncode, out, err), None


def _build_failed(message: str, display: str) -> KustodianError:
    return KustodianError(f"kustomize build failed: {message}", file=display,
                          hint=f"run `kustomize build {display}` to reproduce; "
                               "fix the file it names")


def parse_origin(raw: object) -> dict[str, str]:
    """The flat `key: value` lines of a `config.kubernetes.io/origin` annotation."""
    origin: dict[str, str] = {}
    for line in str(raw).splitlines():
        if ":" in line and not line.startswith(" "):
            key, _, value = line.partition(":")
            origin[key.strip()] = value.strip().strip("'\"")
    return origin


def _clean_error(text: str, wrapper: str, rel: str, display: str) -> str:
    text = text.strip().removeprefix("Error: ")
    text = text.replace(wrapper + "/", "").replace(wrapper, "<wrapper>")
    text = text.replace(os.path.normpath(os.path.join(wrapper, rel)), display)
    text = text.replace(rel, display)
    return re.sub(r"\s+", " ", text)[:2000]


_PREFETCHED: dict[tuple[str, str, str], Future] = {}
_prefetch_pool: ThreadPoolExecutor | None = None


def prefetch(overlays: list[tuple[Path, str]], kustomize: str,
             cache: RenderCache | None = None) -> None:
    """Start rendering these overlays now, in the background: a later `render_all` of the
    same (overlay, display, kustomize) takes the result instead of building it again (PR
    mode starts the renders as soon as it knows the affected overlays). One shared pool of
    cpu-count kustomize processes; `discard_prefetched` ends it."""
    global _prefetch_pool
    if _prefetch_pool is None:
        _prefetch_pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 2),
                                            thread_name_prefix="kustomize-prefetch")
    for overlay, display in overlays:
        key = (str(overlay), display, kustomize)
        if key not in _PREFETCHED:
            _PREFETCHED[key] = _prefetch_pool.submit(render, overlay, display, kustomize,
                                                     cache=cache)


def discard_prefetched() -> None:
    """Forget renders nobody took (waiting for running ones) and stop the prefetch pool."""
    global _prefetch_pool
    _PREFETCHED.clear()
    if _prefetch_pool is not None:
        _prefetch_pool.shutdown(wait=True, cancel_futures=True)
        _prefetch_pool = None


def render_all(overlays: list[tuple[Path, str]], kustomize: str,
               workers: int | None = None, online: frozenset[Path] = frozenset(),
               cache: RenderCache | None = None) -> Iterator[Rendered]:
    """Start rendering every overlay now (a thread pool of kustomize processes) and return
    an iterator yielding the results as they finish. Prefetched (offline) renders are
    taken over, except for the `online` overlays (allowed pinned remote resources, never
    cached)."""
    if not overlays:
        return iter(())
    futures = [None if o in online else _PREFETCHED.pop((str(o), d, kustomize), None)
               for o, d in overlays]
    missing = [job for job, future in zip(overlays, futures, strict=True)
               if future is None]
    pool = None
    if missing:
        workers = max(1, min(workers or os.cpu_count() or 2, len(missing)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kustomize")
        started = iter([pool.submit(render, o, d, kustomize, online=o in online, cache=cache)
                        for o, d in missing])
        futures = [future if future is not None else next(started) for future in futures]

    def results() -> Iterator[Rendered]:
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            if not _PREFETCHED:
                discard_prefetched()   # no thread left behind (forking.can_fork wants none)

    return results()


_ORIGIN_KEY = "config.kubernetes.io/origin:"


def strip_origin(text: str) -> str:
    """Rendered YAML without the origin annotations we asked for (line-based, fast)."""
    if _ORIGIN_KEY not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        stripped = line.lstrip(" ")
        if stripped.startswith(_ORIGIN_KEY):
            indent = len(line) - len(stripped)
            i += 1
            while i < n and (len(lines[i]) - len(lines[i].lstrip(" ")) > indent
                             and lines[i].strip()):
                i += 1
            # drop an `annotations:` parent that is now empty
            if out and out[-1].strip() == "annotations:":
                parent_indent = len(out[-1]) - len(out[-1].lstrip(" "))
                nxt = lines[i] if i < n else ""
                nxt_indent = len(nxt) - len(nxt.lstrip(" "))
                if not nxt.strip() or nxt_indent <= parent_indent:
                    out.pop()
            continue
        out.append(line)
        i += 1
    return "\n".join(out)
