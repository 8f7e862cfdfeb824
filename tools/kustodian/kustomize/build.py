"""The single kustomize runner: the pinned `kustomize build`, in parallel, with origins.

Each overlay is built through a throw-away wrapper kustomization in a temp dir
(`resources: [<overlay>]`, `buildMetadata: [originAnnotations]`), so the user's files are
never edited and every rendered resource names the file it was declared in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from kustodian.errors import KustodianError

KUSTOMIZE_TIMEOUT = 300


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
    """`<root>/.bin/<name>`, else the kustodian checkout's `.bin/<name>`, else PATH."""
    for base in (root, TOOL_HOME):
        if base is not None and (base / ".bin" / name).is_file():
            return str(base / ".bin" / name)
    return shutil.which(name)


def find_kustomize(root: Path | None = None) -> str:
    """The pinned kustomize (see `find_tool`)."""
    found = find_tool("kustomize", root)
    if not found:
        raise KustodianError("kustomize is not installed",
                             hint="run `make setup` (installs the pinned kustomize in .bin/)")
    return found


def render(overlay: Path, display: str, kustomize: str, *, origins: bool = False) -> Rendered:
    """`kustomize build` of one overlay, exactly as a user runs it; never raises.

    `origins=True` builds it through a wrapper kustomization with origin annotations
    instead (about twice kustomize's CPU time, so only used when `sourcemap` cannot tell a
    resource's origin file by itself).
    """
    if not origins:
        return _render_direct(overlay, display, kustomize)
    started = time.perf_counter()
    wrapper = tempfile.mkdtemp(prefix="kustodian-render-")
    real_wrapper = os.path.realpath(wrapper)
    try:
        rel = os.path.relpath(os.path.realpath(overlay), real_wrapper)
        Path(real_wrapper, "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {rel}\nbuildMetadata: [originAnnotations]\n", encoding="utf-8")
        proc, error = _kustomize_build(kustomize, real_wrapper, display)
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
    """`kustomize build` of one dir with the pinned kustomize; its output, or the
    KustodianError saying why it failed."""
    result = render(overlay, str(overlay), find_kustomize(root))
    if result.error is not None:
        raise result.error
    return result.text


def _render_direct(overlay: Path, display: str, kustomize: str) -> Rendered:
    started = time.perf_counter()
    proc, error = _kustomize_build(kustomize, str(overlay), display)
    if proc is not None and proc.returncode != 0:
        real = os.path.realpath(overlay)
        error = _build_failed(re.sub(r"\s+", " ", (proc.stderr or proc.stdout).strip().removeprefix(
            "Error: ").replace(real, display).replace(str(overlay), display))[:2000], display)
    if error is not None:
        return Rendered(overlay, display, error=error, seconds=time.perf_counter() - started)
    return Rendered(overlay, display, proc.stdout, seconds=time.perf_counter() - started)


def _kustomize_build(kustomize: str, target: str, display: str
                     ) -> tuple[subprocess.CompletedProcess | None, KustodianError | None]:
    """Run `kustomize build target`: (the finished process, None) or (None, why it did not
    run to completion)."""
    try:
        return subprocess.run([kustomize, "build", target], capture_output=True, text=True,
                              timeout=KUSTOMIZE_TIMEOUT, check=False), None
    except subprocess.TimeoutExpired:
        return None, KustodianError(
            f"kustomize build did not finish within {KUSTOMIZE_TIMEOUT}s", file=display)
    except OSError as exc:
        return None, KustodianError(f"cannot run kustomize: {exc.strerror}", file=display,
                                    hint="run `make setup`")


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


def prefetch(overlays: list[tuple[Path, str]], kustomize: str) -> None:
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
            _PREFETCHED[key] = _prefetch_pool.submit(render, overlay, display, kustomize)


def discard_prefetched() -> None:
    """Forget renders nobody took (waiting for running ones) and stop the prefetch pool."""
    global _prefetch_pool
    _PREFETCHED.clear()
    if _prefetch_pool is not None:
        _prefetch_pool.shutdown(wait=True, cancel_futures=True)
        _prefetch_pool = None


def render_all(overlays: list[tuple[Path, str]], kustomize: str,
               workers: int | None = None) -> Iterator[Rendered]:
    """Start rendering every overlay now (a thread pool of kustomize processes) and return
    an iterator yielding the results as they finish. Prefetched renders are taken over."""
    if not overlays:
        return iter(())
    futures = [_PREFETCHED.pop((str(o), d, kustomize), None) for o, d in overlays]
    missing = [job for job, future in zip(overlays, futures, strict=True)
               if future is None]
    pool = None
    if missing:
        workers = max(1, min(workers or os.cpu_count() or 2, len(missing)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kustomize")
        started = iter([pool.submit(render, o, d, kustomize) for o, d in missing])
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
