#!/usr/bin/env python3
"""Accuracy on the labelled corpus (tests/corpus/): kustodian and every installed peer.

Each tool checks each corpus file on its own (cross-resource checks see that file only, as
kustodian does). A peer "detects" an expected rule when any of its checks mapped to that rule
(bench/peers/mapping.py) fires on the file; a false positive is a good-set file on which a
mapped check fires (for kustodian: any finding at all). Writes bench/out/accuracy.{json,md}.

    .venv/bin/python bench/peers/accuracy.py [--tools kube-score,checkov]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "tests" / "corpus"), str(HERE.parent)]

from corpus_labels import CorpusCase, load_corpus  # noqa: E402
from mapping import RULE_CATEGORY, RULE_ENVS, TOOL_MAPPINGS  # noqa: E402
from measure import run_measured  # noqa: E402

from tools import REPO_ROOT, TOOLS  # noqa: E402

OUT = REPO_ROOT / "bench" / "out"
KUSTODIAN = REPO_ROOT / ".venv" / "bin" / "kustodian"
CATEGORY_ORDER = ("pod-security", "reliability", "supply-chain", "secrets", "network",
                  "cross-resource", "hygiene")


def kustodian_on(case: CorpusCase) -> set[str] | str:
    """Rule ids kustodian reports on one corpus file, or an error string."""
    rel = case.path.relative_to(REPO_ROOT).as_posix()
    run = run_measured([str(KUSTODIAN), "check", "--env", case.env, "--format", "json", rel],
                       cwd=REPO_ROOT, timeout=300)
    if run.returncode not in (0, 1):
        return f"exit {run.returncode}: {run.stderr.strip()[-300:]}"
    return {f["rule"] for f in json.loads(run.stdout)["findings"]}


def peer_on(tool_name: str, case: CorpusCase) -> set[str] | str:
    """Check ids a peer reports on one corpus file (any file key: it was run on one file)."""
    tool = TOOLS[tool_name]
    rel = case.path.relative_to(REPO_ROOT).as_posix()
    run = run_measured(tool.build([rel], 1), cwd=REPO_ROOT, env=tool.environ(), timeout=300)
    if run.timed_out:
        return "timeout"
    try:
        fired = tool.parse(run.stdout)
    except (ValueError, KeyError) as exc:
        return f"unreadable output (exit {run.returncode}): {exc}: {run.stderr.strip()[-300:]}"
    return set().union(*fired.values()) if fired else set()


def score(cases: list[CorpusCase], detected: dict[str, set[str] | str],
          mapping: dict[str, tuple[str, ...]] | None) -> dict:
    """Per category detected/total, false positives on the good set, errors."""
    per_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses, fps, env_fps, errors = [], [], [], []
    for case in cases:
        got = detected[case.rel]
        if isinstance(got, str):
            errors.append({"file": case.rel, "error": got})
            got = set()
        rules = got if mapping is None else {r for cid in got for r in mapping.get(cid, ())}
        for rule in case.expect:
            cat = RULE_CATEGORY.get(rule, "other")
            per_cat[cat][1] += 1
            if rule in rules:
                per_cat[cat][0] += 1
            else:
                misses.append(f"{case.rel}: {rule}")
        if case.clean and rules:
            fps.append({"file": case.rel, "rules": sorted(rules), "checks": sorted(got)})
            in_env = {r for r in rules if case.env in RULE_ENVS.get(r, (case.env,))}
            if in_env:
                env_fps.append({"file": case.rel, "rules": sorted(in_env)})
    total = [sum(v[0] for v in per_cat.values()), sum(v[1] for v in per_cat.values())]
    return {"categories": {c: per_cat[c] for c in CATEGORY_ORDER if c in per_cat},
            "total": total, "false_positives": fps, "false_positives_env_aware": env_fps,
            "good_files": sum(c.clean for c in cases), "missed": misses, "errors": errors}


def run_tool(name: str, cases: list[CorpusCase], jobs: int) -> dict[str, set[str] | str]:
    fn = kustodian_on if name == "kustodian" else (lambda c: peer_on(name, c))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(zip([c.rel for c in cases], pool.map(fn, cases), strict=True))


def repo_overlays(tool_names: list[str]) -> dict[str, dict]:
    """Every tool on this repository's own overlays (rendered once with kustomize), which must
    be clean: a mapped finding there is a false positive (env-aware, as on the good set)."""
    import yaml

    config = yaml.safe_load((REPO_ROOT / ".kustodian.yaml").read_text())
    overlays = {o: (v or {}).get("env") for o, v in (config.get("overlays") or {}).items()}
    outdir = OUT / "repo-rendered"
    outdir.mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[str, str | None]] = {}
    for overlay, env in overlays.items():
        build = run_measured([str(REPO_ROOT / ".bin" / "kustomize"), "build", overlay],
                             cwd=REPO_ROOT)
        if build.returncode != 0:
            continue
        path = outdir / (overlay.replace("/", "_") + ".yaml")
        path.write_text(build.stdout)
        files[path.relative_to(REPO_ROOT).as_posix()] = (overlay, env)
    out: dict[str, dict] = {}
    for name in tool_names:
        if name == "kustodian":
            run = run_measured([str(KUSTODIAN), "check", "--format", "json"], cwd=REPO_ROOT)
            report = json.loads(run.stdout or "{}")
            out[name] = {"findings": [f"{f['overlay']}: {f['rule']}"
                                      for f in report.get("findings", [])],
                         "overlays": len(report.get("summary", {}).get("overlays", []))}
            continue
        tool, hits = TOOLS[name], []
        for rel, (overlay, env) in files.items():
            run = run_measured(tool.build([rel], 1), cwd=REPO_ROOT, env=tool.environ(),
                               timeout=300)
            fired = tool.parse(run.stdout) if not run.timed_out else {}
            rules = {r for ids in fired.values() for cid in ids
                     for r in TOOL_MAPPINGS[name].get(cid, ())}
            hits += [f"{overlay}: {r}" for r in sorted(rules)
                     if env in RULE_ENVS.get(r, (env,))]
        out[name] = {"findings": hits, "overlays": len(files)}
    return out


def markdown(results: dict[str, dict]) -> str:
    cats = [c for c in CATEGORY_ORDER if any(c in r["categories"] for r in results.values())]
    head = ("| tool | " + " | ".join(cats) + " | total | good files with a false positive "
            "| same, env-aware |")
    lines = [head, "|" + "---|" * (len(cats) + 4)]
    for name, res in results.items():
        cells = []
        for cat in cats:
            got, tot = res["categories"].get(cat, [0, 0])
            cells.append(f"{got}/{tot}")
        got, tot = res["total"]
        fp = f"{len(res['false_positives'])}/{res['good_files']}"
        env_fp = f"{len(res['false_positives_env_aware'])}/{res['good_files']}"
        if res["errors"]:
            fp += f" ({len(res['errors'])} files failed)"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | **{got}/{tot}** | {fp} "
                     f"| {env_fp} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", default="kustodian,kube-score,checkov,kubeconform,conftest,"
                                           "kube-linter,polaris")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repo-only", action="store_true",
                        help="only this repository's overlays (keep the corpus results)")
    parser.add_argument("--fresh", action="store_true",
                        help="drop results of tools not run this time (default: keep them)")
    args = parser.parse_args(argv)
    cases = load_corpus()
    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    previous = OUT / "accuracy.json"
    if previous.exists() and not args.fresh:
        results = json.loads(previous.read_text()).get("results", {})
    for name in args.tools.split(","):
        if name != "kustodian" and not TOOLS[name].available():
            skipped[name] = "not installed (bench/peers/install.sh)"
            continue
        if args.repo_only:
            continue
        print(f"accuracy: {name} on {len(cases)} corpus files ...", file=sys.stderr)
        detected = run_tool(name, cases, args.jobs)
        mapping = None if name == "kustodian" else TOOL_MAPPINGS[name]
        results[name] = score(cases, detected, mapping)
        results[name]["version"] = "repo" if name == "kustodian" else TOOLS[name].version()
    ran = [n for n in args.tools.split(",") if n == "kustodian" or TOOLS[n].available()]
    repo = repo_overlays(ran)
    order = ["kustodian", *TOOLS]
    results = {k: results[k] for k in sorted(results, key=order.index)}
    OUT.mkdir(parents=True, exist_ok=True)
    previous_repo = (json.loads(previous.read_text()).get("repo_overlays", {})
                     if previous.exists() and not args.fresh else {})
    repo = {**previous_repo, **repo}
    (OUT / "accuracy.json").write_text(json.dumps(
        {"results": results, "skipped": skipped, "repo_overlays": repo}, indent=1) + "\n")
    table = markdown(results)
    table += ("\nThis repository's own overlays (must be clean; mapped findings, env-aware):\n\n"
              "| tool | findings | examples |\n|---|---|---|\n")
    for name in sorted(repo, key=order.index):
        hits = repo[name]["findings"]
        table += f"| {name} | {len(hits)} | {'; '.join(hits[:4])} |\n"
    if skipped:
        table += "\nNot run: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + "\n"
    (OUT / "accuracy.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
