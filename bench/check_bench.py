#!/usr/bin/env python3
"""Time `kustodian check` over every overlay of generated monorepos (the overlay benchmark).

For each N (default 250 and 1000 apps x 4 envs) it reports wall time (min and median of
--runs), resources/s, peak RSS of the whole process tree (kustodian + its kustomize and conftest
children), the per-stage timings kustodian puts in its JSON summary, and the share of the wall
time spent inside kustomize: measured independently as the wall time of bare `kustomize build`
of the same overlays with the same parallelism (one per core, as kustodian renders).
Writes bench/out/check_bench.{json,md}.

    .venv/bin/python bench/check_bench.py                 # N = 250 and 1000
    .venv/bin/python bench/check_bench.py --apps 100 --runs 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import repeat, run_measured
from workloads import (
    OUT,
    bare_kustomize_cmd,
    ensure_monorepo,
    jobs,
    kustodian_check_cmd,
    read_report,
)

TIMEOUT = 3600


def bench_one(apps: int, runs: int) -> dict:
    mono = ensure_monorepo(apps)
    resources = mono.resources()
    par = jobs()
    bare = repeat(f"kustomize build x{len(mono.overlays)} (-P {par})", runs,
                  lambda: run_measured(bare_kustomize_cmd(mono, par), cwd=mono.root,
                                       timeout=TIMEOUT, keep_output=False))
    check = repeat("kustodian check", runs,
                   lambda: run_measured(kustodian_check_cmd(), cwd=mono.root, timeout=TIMEOUT))
    reports = [read_report(r.stdout) for r in check.ok_runs()]
    best = min(range(len(reports)), key=lambda i: check.ok_runs()[i].wall_s) if reports else None
    report = reports[best] if best is not None else {}
    summary = report.get("summary", {})
    findings = report.get("findings", [])
    result = {
        "apps": apps, "overlays": len(mono.overlays), "resources": resources, "jobs": par,
        "kustodian": check.summary(resources),
        "kustomize_bare": bare.summary(resources),
        "kustodian_timings": summary.get("timings", {}),
        "findings": len(findings),
        "rules_hit": sorted({f["rule"] for f in findings}),
        "deliberate_violations": len(mono.violations),
        "violations_missed": _missed(mono.violations, findings),
        "errors": [r.stderr.strip()[-500:] for r in check.runs if r.returncode not in (0, 1)],
    }
    kw, bw = check.wall_min(), bare.wall_min()
    if kw and bw:
        result["kustomize_share"] = round(min(bw / kw, 1.0), 3)
        result["ratio_vs_bare_kustomize"] = round(kw / bw, 3)
    return result


def _missed(violations: list[dict], findings: list[dict]) -> list[str]:
    """Deliberate violations of the generator that no finding reports (rule + overlay)."""
    seen = {(f.get("rule"), f.get("overlay")) for f in findings}
    out = []
    for v in violations:
        for overlay in v["overlays"]:
            for rule in v["rules"]:
                if (rule, overlay) not in seen:
                    out.append(f"{overlay}: {rule}")
    return out


def markdown(results: list[dict]) -> str:
    lines = ["| N apps | overlays | resources | kustodian wall min / median | resources/s "
             "| peak RSS | bare kustomize wall (same parallelism) | share in kustomize "
             "| kustodian / kustomize |", "|" + "---|" * 9]
    for r in results:
        k, b = r["kustodian"], r["kustomize_bare"]
        lines.append(
            f"| {r['apps']} | {r['overlays']} | {r['resources']} | {_s(k['wall_min_s'])} / "
            f"{_s(k['wall_median_s'])} | {k['resources_per_s']} | {k['peak_rss_mb']} MB "
            f"| {_s(b['wall_min_s'])} | {_pct(r.get('kustomize_share'))} "
            f"| {r.get('ratio_vs_bare_kustomize', 'n/a')}x |")
    stages = [(r["apps"], r["kustodian_timings"]) for r in results if r["kustodian_timings"]]
    if stages:
        lines += ["", "kustodian's own per-stage timings (JSON summary, best run):", ""]
        for apps, t in stages:
            lines.append(f"- N={apps}: " + ", ".join(f"{k}={v}" for k, v in t.items()))
    return "\n".join(lines) + "\n"


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, nargs="+", default=[250, 1000])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    results = [bench_one(n, args.runs) for n in args.apps]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "check_bench.json").write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(results)
    (OUT / "check_bench.md").write_text(table)
    print(table)
    for r in results:
        if r["errors"]:
            print(f"N={r['apps']}: kustodian failed: {r['errors'][0]}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
