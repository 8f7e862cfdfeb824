#!/usr/bin/env python3
"""`make bench`: every benchmark in turn; results in bench/out/ (JSON + Markdown).

1. bench/agent/run.py          the agent service under wrk (when present)
2. bench/check_bench.py        `kustodian check` on N=250 and N=1000 apps x 4 envs
3. bench/peers/install.sh      the peers at pinned versions (outside the repo; idempotent)
4. bench/peers/accuracy.py     kustodian and the peers on the labelled corpus
5. bench/peers/compare.py      side-by-side speed on N=100/250/1000 + PR mode

    .venv/bin/python bench/run_all.py [--quick] [--only check,compare]

--quick runs the small sizes only (N=100 for the check and speed benchmarks, one run each).
A step that fails is reported and the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable


def steps(quick: bool) -> dict[str, list[str]]:
    sizes = ["100"] if quick else ["250", "1000"]
    compare_sizes = ["100"] if quick else ["100", "250", "1000"]
    runs = ["--runs", "1"] if quick else ["--runs", "3", "--runs-large", "1"]
    plan = {
        "agent": [PY, str(BENCH / "agent" / "run.py")]
        + (["--duration", "3"] if quick else []),
        "check": [PY, str(BENCH / "check_bench.py"), "--apps", *sizes,
                  "--runs", "1" if quick else "2"],
        "peers": ["bash", str(BENCH / "peers" / "install.sh")],
        "accuracy": [PY, str(BENCH / "peers" / "accuracy.py")],
        "compare": [PY, str(BENCH / "peers" / "compare.py"), "--apps", *compare_sizes, *runs],
    }
    if not (BENCH / "agent" / "run.py").exists():
        del plan["agent"]
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--only", default="", help="comma-separated steps: "
                        "agent,check,peers,accuracy,compare")
    args = parser.parse_args(argv)
    plan = steps(args.quick)
    wanted = [s for s in args.only.split(",") if s] or list(plan)
    unknown = [s for s in wanted if s not in plan]
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; known: {', '.join(plan)}")
    failed = []
    for name in wanted:
        print(f"\n== bench: {name}: {' '.join(plan[name])}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(plan[name], cwd=ROOT).returncode
        print(f"== bench: {name}: exit {code} after {time.perf_counter() - started:.0f} s",
              flush=True)
        if code != 0:
            failed.append(name)
    print(f"\nbench: results in {BENCH / 'out'}" + (f"; FAILED: {', '.join(failed)}"
                                                     if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
