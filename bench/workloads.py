"""The benchmark workloads: generated monorepos under bench/out/ and the commands timed on them."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
OUT = BENCH / "out"
KUSTODIAN = REPO_ROOT / ".venv" / "bin" / "kustodian"
SEED = 42

sys.path.insert(0, str(BENCH))

import gen_monorepo  # noqa: E402


@dataclass
class Monorepo:
    """One generated monorepo and what the benchmarks need to know about it."""

    root: Path
    apps: int
    overlays: list[str]
    violations: list[dict]

    @property
    def rendered_dir(self) -> Path:
        return self.root / "rendered"

    def rendered_files(self) -> list[Path]:
        return sorted(self.rendered_dir.rglob("*.yaml"))

    def resources(self) -> int:
        """Objects in the rendered copy (= what `kustodian check` renders and checks)."""
        cache = self.root / "rendered-count.txt"
        if cache.exists():
            return int(cache.read_text())
        count = sum(text.count("\nkind: ") + text.startswith("kind: ")
                    for text in (p.read_text() for p in self.rendered_files()))
        cache.write_text(str(count))
        return count


def ensure_monorepo(apps: int, *, violation_rate: float = 0.05) -> Monorepo:
    """bench/out/mono-<N>: generated (with git history and the rendered copy) if missing."""
    root = OUT / f"mono-{apps}"
    meta_path = root / "bench-meta.json"
    complete = root / ".complete"
    if not complete.exists() or json.loads(meta_path.read_text()).get("seed") != SEED:
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        print(f"bench: generating {apps} apps into {root} (render + git) ...", file=sys.stderr)
        gen_monorepo.generate(root, apps, seed=SEED, violation_rate=violation_rate, render=True,
                              git=True)
        complete.write_text("")
    meta = json.loads(meta_path.read_text())
    return Monorepo(root, apps, meta["overlays"], meta["violations"])


def jobs() -> int:
    return os.cpu_count() or 2


def kustomize_bin() -> str:
    return gen_monorepo.kustomize_bin()


def bare_kustomize_cmd(mono: Monorepo, parallel: int) -> list[str]:
    """`kustomize build` of every overlay, `parallel` at a time, output discarded (xargs -P)."""
    listing = mono.root / "overlays.txt"
    if not listing.exists():
        listing.write_text("\n".join(mono.overlays) + "\n")
    script = (f'xargs -a {listing} -P {parallel} -I{{}} sh -c '
              f'\'"{kustomize_bin()}" build "{{}}" > /dev/null || exit 255\'')
    return ["bash", "-c", script]


def kustodian_check_cmd(*extra: str) -> list[str]:
    return [str(KUSTODIAN), "check", "--format", "json", *extra]


def read_report(stdout: str) -> dict:
    """The JSON report of one kustodian run ({} when it printed none)."""
    try:
        return json.loads(stdout)
    except ValueError:
        return {}
