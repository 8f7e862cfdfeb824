#!/usr/bin/env python3
"""Side-by-side speed of kustodian and the peers, in one run, on the generated monorepos.

Per N (default 100, 250, 1000 apps x 4 envs):
  A. over every overlay, kustomize rendering included:
     bare `kustomize build` of all overlays in parallel (one per core, as kustodian renders)
     and sequentially; `kustodian check` (its JSON summary gives the per-stage timings).
  B. on the pre-rendered plain YAML (rendered/): kustodian check --env prod, kubeconform
     -strict, kube-score, checkov, conftest (comparable Rego set), and kube-linter/Polaris when
     installed. A peer slower than --peer-timeout is stopped and reported as such.
  C. pull-request mode on the largest N: a commit touching one overlay, then
     `kustodian check --base-ref main --new-only`.
Every measurement: wall min and median of the runs, resources/s at the min, peak RSS of the
process tree. Writes bench/out/compare.{json,md}; the performance targets are evaluated from
ratios measured in this same run.

    .venv/bin/python bench/peers/compare.py --apps 100 250 1000 --runs 3 --runs-large 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from measure import Measurement, Series, repeat, run_measured  # noqa: E402
from workloads import (  # noqa: E402
    OUT,
    REPO_ROOT,
    Monorepo,
    bare_kustomize_cmd,
    ensure_monorepo,
    jobs,
    kustodian_check_cmd,
    read_report,
)

from tools import TOOLS  # noqa: E402

PEERS = ("kubeconform", "kube-score", "checkov", "conftest", "kube-linter", "polaris")


def machine() -> dict:
    """nproc, CPU model, RAM and the tool versions, for the README."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    kustomize = subprocess.run([str(REPO_ROOT / ".bin" / "kustomize"), "version"],
                               capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "kustomize": kustomize,
            "peers": {name: (TOOLS[name].version() if TOOLS[name].available() else None)
                      for name in PEERS}}


def _series_row(n: int, workload: str, tool: str, series: Series, resources: int,
                extra: dict | None = None) -> dict:
    return {"apps": n, "workload": workload, "tool": tool, **series.summary(resources),
            **(extra or {})}


def bench_overlays(mono: Monorepo, runs: int, sequential: bool) -> list[dict]:
    """Workload A: everything from the kustomize tree."""
    res, par, rows = mono.resources(), jobs(), []
    bare = repeat("kustomize", runs, lambda: run_measured(
        bare_kustomize_cmd(mono, par), cwd=mono.root, keep_output=False))
    rows.append(_series_row(mono.apps, "overlays", f"kustomize build, {par} parallel (floor)",
                            bare, res))
    if sequential:
        seq = repeat("kustomize-seq", 1, lambda: run_measured(
            bare_kustomize_cmd(mono, 1), cwd=mono.root, keep_output=False))
        rows.append(_series_row(mono.apps, "overlays", "kustomize build, sequential", seq, res))
    check = repeat("kustodian", runs, lambda: run_measured(kustodian_check_cmd(), cwd=mono.root))
    ok = check.ok_runs()
    timings = {}
    if ok:
        best = min(ok, key=lambda r: r.wall_s)
        timings = read_report(best.stdout).get("summary", {}).get("timings", {})
    extra = {"timings": timings, "returncodes": [r.returncode for r in check.runs],
             "stderr": (check.runs[-1].stderr.strip()[-400:] if check.runs else "")}
    if bare.wall_min() and check.wall_min():
        extra["ratio_vs_parallel_kustomize"] = round(check.wall_min() / bare.wall_min(), 3)
        extra["cpu_ratio_vs_kustomize"] = round(check.cpu_min() / bare.cpu_min(), 3)
        if sequential and rows[1]["wall_min_s"]:
            extra["ratio_vs_sequential_kustomize"] = round(
                check.wall_min() / rows[1]["wall_min_s"], 3)
    rows.append(_series_row(mono.apps, "overlays", "kustodian check", check, res, extra))
    return rows


def bench_rendered(mono: Monorepo, runs: int, peer_timeout: float,
                   only: list[str] | None = None) -> list[dict]:
    """Workload B: every tool on the same pre-rendered plain YAML, interleaved: each round
    runs every tool once, so a slow spell of this shared VM (its speed drifts by ~30% over
    tens of seconds) falls on all tools alike instead of on whichever series it hits."""
    files = [str(p.relative_to(mono.root)) for p in mono.rendered_files()]
    res, rows = mono.resources(), []
    names = list(only) if only else ["kustodian", *PEERS]
    contenders: dict[str, tuple[Series, Callable[[], Measurement]]] = {}
    for name in names:
        if name == "kustodian":
            contenders[name] = (Series(name), lambda: run_measured(
                kustodian_check_cmd("--env", "prod", "rendered"), cwd=mono.root))
            continue
        tool = TOOLS[name]
        if not tool.available():
            rows.append({"apps": mono.apps, "workload": "rendered", "tool": name,
                         "skipped": "not installed (bench/peers/install.sh)"})
            continue
        # absolute: the tools' command builders look at the path from the harness's cwd
        paths = [str(mono.rendered_dir)] if name in ("checkov", "kubeconform", "conftest",
                                                     "kube-linter") else files
        contenders[name] = (Series(name), lambda tool=tool, paths=paths: run_measured(
            tool.build(paths, jobs()), cwd=mono.root, env=tool.environ(),
            timeout=peer_timeout, keep_output=False))
    for _ in range(runs):
        for series, once in contenders.values():
            if not (series.runs and series.runs[-1].timed_out):   # it would time out again
                series.runs.append(once())
    for name, (series, _once) in contenders.items():
        if name == "kustodian":
            ok = series.ok_runs()
            timings = read_report(min(ok, key=lambda r: r.wall_s).stdout).get(
                "summary", {}).get("timings", {}) if ok else {}
            rows.append(_series_row(mono.apps, "rendered", "kustodian check --env prod",
                                    series, res, {"timings": timings, "returncodes": [
                                        r.returncode for r in series.runs]}))
            continue
        extra = {"version": TOOLS[name].version(),
                 "returncodes": [r.returncode for r in series.runs]}
        if series.runs and series.runs[-1].timed_out:
            extra["timeout_s"] = peer_timeout
        rows.append(_series_row(mono.apps, "rendered", name, series, res, extra))
    return rows


def bench_pr_mode(mono: Monorepo, runs: int) -> dict:
    """Workload C: a branch whose one commit changes one overlay; --base-ref main --new-only."""
    git = ["git", "-C", str(mono.root)]
    target = f"overlays/app-{mono.apps // 2 + 1:04d}/prod"
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.invalid"}
    subprocess.run([*git, "checkout", "-q", "-B", "bench-pr", "main"], check=True, env=env)
    patch = mono.root / target / "patches" / "replicas.yaml"
    text = patch.read_text()
    patch.write_text(text.replace("replicas: 3", "replicas: 4", 1))
    subprocess.run([*git, "commit", "-q", "-am", f"bench: change {target}"], check=True, env=env)
    try:
        series = repeat("pr", runs, lambda: run_measured(
            kustodian_check_cmd("--base-ref", "main", "--new-only"), cwd=mono.root))
    finally:
        subprocess.run([*git, "checkout", "-q", "main"], check=True, env=env)
    last = series.runs[-1]
    report = read_report(last.stdout)
    return {**_series_row(mono.apps, "pr-mode", "kustodian check --base-ref main --new-only",
                          series, None),
            "changed_overlay": target, "overlays_checked": report.get("summary", {}).get(
                "overlays", len(report.get("overlays", [])) or None),
            "returncodes": [r.returncode for r in series.runs],
            "stderr": last.stderr.strip()[-400:]}


def targets(rows: list[dict], pr: dict | None) -> list[dict]:
    """Issue 6's targets, from ratios measured in this run."""
    out = []
    floors = {r["apps"]: r for r in rows if r["workload"] == "overlays"
              and r["tool"].startswith("kustomize build") and "parallel" in r["tool"]}
    for row in rows:
        if row["tool"] == "kustodian check" and "ratio_vs_parallel_kustomize" in row:
            out.append({"apps": row["apps"], "target": "check <= 1.15 x bare kustomize (parallel)",
                        "value": row["ratio_vs_parallel_kustomize"],
                        "met": row["ratio_vs_parallel_kustomize"] <= 1.15})
            floor = floors.get(row["apps"], {})
            if row.get("cpu_min_s") and floor.get("cpu_min_s"):
                ratio = round(row["cpu_min_s"] / floor["cpu_min_s"], 3)
                out.append({"apps": row["apps"], "target": "same, in CPU seconds (load-robust)",
                            "value": ratio, "met": ratio <= 1.15})
    by = {(r["apps"], r["tool"]): r for r in rows if r.get("workload") == "rendered"}
    for (apps, tool), row in by.items():
        if tool != "kustodian check --env prod" or not row.get("resources_per_s"):
            continue
        ours = row["resources_per_s"]
        for peer, factor in (("kubeconform", 1), ("checkov", 10)):
            other = by.get((apps, peer), {})
            if other.get("resources_per_s"):
                out.append({"apps": apps, "target": f"rendered: >= {factor} x {peer} res/s",
                            "value": round(ours / other["resources_per_s"], 2),
                            "met": ours >= factor * other["resources_per_s"]})
                if other.get("wall_median_s") and row.get("wall_median_s"):
                    ratio = round(other["wall_median_s"] / row["wall_median_s"], 2)
                    out.append({"apps": apps, "target": "same, by median wall (less noisy)",
                                "value": ratio, "met": ratio >= factor})
            elif other.get("timeout_s"):
                out.append({"apps": apps, "target": f"rendered: >= {factor} x {peer} res/s",
                            "value": f"{peer} timed out after {other['timeout_s']} s",
                            "met": bool(row.get("wall_min_s"))
                            and row["wall_min_s"] * factor <= other["timeout_s"]})
    if pr and pr.get("wall_min_s") is not None:
        out.append({"apps": pr["apps"], "target": "PR mode, one overlay changed < 3 s",
                    "value": pr["wall_min_s"], "met": pr["wall_min_s"] < 3.0})
        if pr.get("wall_median_s") is not None:
            out.append({"apps": pr["apps"], "target": "same, median wall",
                        "value": pr["wall_median_s"], "met": pr["wall_median_s"] < 3.0})
    return out


def markdown(result: dict) -> str:
    lines = ["| N | workload | tool | wall min | wall median | CPU min | resources/s | peak RSS "
             "| note |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"] + ([result["pr_mode"]] if result.get("pr_mode") else []):
        if r.get("skipped"):
            lines.append(f"| {r['apps']} | {r['workload']} | {r['tool']} | - | - | - | - | - "
                         f"| {r['skipped']} |")
            continue
        note = []
        if r.get("timeout_s"):
            note.append(f"stopped at the {r['timeout_s']:.0f} s timeout")
        if "ratio_vs_parallel_kustomize" in r:
            note.append(f"{r['ratio_vs_parallel_kustomize']}x parallel kustomize")
        if "ratio_vs_sequential_kustomize" in r:
            note.append(f"{r['ratio_vs_sequential_kustomize']}x sequential kustomize")
        loads = r.get("load_at_start") or []
        if loads and max(loads) > (result["machine"]["nproc"] or 1):
            note.append(f"load {max(loads)}")
        bad_rc = [rc for rc in r.get("returncodes", []) if rc not in (0, 1, None)]
        if bad_rc:
            note.append(f"exit {bad_rc[0]}")
        lines.append(f"| {r['apps']} | {r['workload']} | {r['tool']} | {_s(r['wall_min_s'])} "
                     f"| {_s(r['wall_median_s'])} | {_s(r.get('cpu_min_s'))} "
                     f"| {r.get('resources_per_s') or '-'} "
                     f"| {r.get('peak_rss_mb') or '-'} MB | {'; '.join(note)} |")
    stage_rows = [r for r in result["rows"] if r.get("timings")]
    if stage_rows:
        lines += ["", "kustodian per-stage timings (its JSON summary, best run):", ""]
        for r in stage_rows:
            lines.append(f"- N={r['apps']} {r['workload']}: "
                         + ", ".join(f"{k}={v}" for k, v in r["timings"].items()))
    if result["targets"]:
        lines += ["", "| N | target | measured | met |", "|---|---|---|---|"]
        for t in result["targets"]:
            lines.append(f"| {t['apps']} | {t['target']} | {t['value']} "
                         f"| {'yes' if t['met'] else '**no**'} |")
    m = result["machine"]
    lines += ["", f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, "
                  f"Linux {m['kernel']}, Python {m['python']}, kustomize {m['kustomize']}."]
    return "\n".join(lines) + "\n"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _tool_rank(tool: str) -> int:
    """Table order: the kustomize floor, kustodian, then the peers."""
    if tool.startswith("kustomize build"):
        return 0 if "parallel" in tool else 1
    if tool.startswith("kustodian"):
        return 2
    return 3 + (PEERS.index(tool) if tool in PEERS else len(PEERS))


def _write(args: argparse.Namespace, result: dict, merge: list[str] = ()) -> str:
    """Merge with what bench/out/<out>.json (and any --merge files) hold, for the N not
    measured now; write JSON + Markdown; return the Markdown."""
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"{args.out}.json"
    rows, pr = list(result["rows"]), result["pr_mode"]
    sources = [] if args.fresh else [target]
    sources += [OUT / f"{name}.json" for name in merge]
    for source in sources:
        if not source.exists():
            continue
        old = json.loads(source.read_text())
        mine = {(r["apps"], r["workload"], r["tool"]) for r in rows}
        rows += [r for r in old.get("rows", [])
                 if (r["apps"], r["workload"], r["tool"]) not in mine]
        old_pr = old.get("pr_mode")
        if old_pr and (pr is None or old_pr["apps"] > pr["apps"]):
            pr = old_pr
    order = {w: i for i, w in enumerate(("overlays", "rendered"))}
    rows.sort(key=lambda r: (r["apps"], order.get(r["workload"], 9), _tool_rank(r["tool"])))
    merged = {"machine": result["machine"], "rows": rows, "pr_mode": pr,
              "targets": targets(rows, pr)}
    target.write_text(json.dumps(merged, indent=1) + "\n")
    table = markdown(merged)
    (OUT / f"{args.out}.md").write_text(table)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, nargs="+", default=[100, 250, 1000])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement")
    parser.add_argument("--runs-large", type=int, default=1,
                        help="runs per measurement for N > --large (default 1)")
    parser.add_argument("--large", type=int, default=250)
    parser.add_argument("--sequential-max", type=int, default=250,
                        help="also time sequential kustomize up to this N (slow)")
    parser.add_argument("--peer-timeout", type=float, default=600.0)
    parser.add_argument("--skip-pr", action="store_true")
    parser.add_argument("--only-peers", default="",
                        help="re-measure only these tools on the rendered YAML (comma list; "
                             "'kustodian' for kustodian's own row)")
    parser.add_argument("--fresh", action="store_true",
                        help="drop earlier results (default: replace only the N measured now)")
    parser.add_argument("--out", default="compare",
                        help="result name: bench/out/<out>.json and .md (default compare)")
    parser.add_argument("--merge", nargs="*", default=[], metavar="NAME",
                        help="only merge bench/out/<NAME>.json results into --out, no runs")
    args = parser.parse_args(argv)
    if args.merge:
        args.apps = []
    result: dict = {"machine": machine(), "rows": [], "pr_mode": None}
    for n in args.apps:
        mono = ensure_monorepo(n)
        runs = args.runs if n <= args.large else args.runs_large
        print(f"compare: N={n} ({len(mono.overlays)} overlays, {mono.resources()} resources), "
              f"{runs} run(s)", file=sys.stderr)
        only = [p for p in args.only_peers.split(",") if p]
        if not only:
            result["rows"] += bench_overlays(mono, runs, n <= args.sequential_max)
        result["rows"] += bench_rendered(mono, runs, args.peer_timeout, only)
        _write(args, result)                     # after each N: a crash keeps what ran
    if args.apps and not args.skip_pr:
        result["pr_mode"] = bench_pr_mode(ensure_monorepo(max(args.apps)), args.runs)
    table = _write(args, result, merge=args.merge)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
