#!/usr/bin/env python3
"""Turn kustodian's speed devices off one at a time and measure what each one buys.

    .venv/bin/python bench/speed_devices.py --apps 250 --runs 3

On the pre-rendered YAML of the generated monorepo (`kustodian check --env prod rendered`),
interleaved runs of: as shipped; without forked evaluation slices; with the cyclic GC on;
with a normal interpreter exit; all three off. Prints wall and CPU (process tree) min and
median per variant. The variants are made by patching the modules before `kustodian.cli.main`
runs (`--variant` is the internal entry point used for each run).
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("shipped", "no-fork", "gc-on", "normal-exit", "all-off")


def run_variant(variant: str, argv: list[str]) -> None:
    """Run `kustodian <argv>` in this process with `variant`'s devices turned off."""
    import kustodian.cli as cli
    import kustodian.forking as forking
    import kustodian.pipeline as pipeline

    if variant in ("no-fork", "all-off"):
        pipeline.can_fork = forking.can_fork = lambda: False

    class _GcOn:
        def __getattr__(self, name: str) -> object:
            return getattr(gc, name)

        def disable(self) -> None:
            """The collector stays on."""

    if variant in ("gc-on", "all-off"):
        pipeline.gc = cli.gc = _GcOn()   # type: ignore[assignment]
    if variant in ("normal-exit", "all-off"):
        cli._exit = sys.exit   # type: ignore[assignment]
    sys.argv = ["kustodian", *argv]
    cli.main()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=250)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.variant:
        run_variant(args.variant, rest)
        return 0
    sys.path[:0] = [str(HERE), str(HERE / "peers")]
    from workloads import ensure_monorepo

    mono = ensure_monorepo(args.apps)
    wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.runs):
        for variant in VARIANTS:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--variant", variant, "check",
                                   "--env", "prod", "--format", "json", "rendered"],
                                  cwd=mono.root, capture_output=True, text=True, check=False)
            wall[variant].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[variant].append(after.ru_utime + after.ru_stime
                                - before.ru_utime - before.ru_stime)
            if proc.returncode not in (0, 1):
                print(proc.stderr, file=sys.stderr)
                return 2
    print("| run | CPU min (median) | wall min (median) |\n|---|---|---|")
    for v in VARIANTS:
        print(f"| {v} | {min(cpu[v]):.2f} s ({statistics.median(cpu[v]):.2f} s) "
              f"| {min(wall[v]):.2f} s ({statistics.median(wall[v]):.2f} s) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
