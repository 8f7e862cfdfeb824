"""The base revision's tree: only what the affected targets read there, extracted."""

from __future__ import annotations

from kustodian.git import GitReader
from kustodian.prmode.scope import GLOBAL_INPUTS, InputCollector


def base_paths(overlays: list[str], base: GitReader) -> list[str]:
    """What to extract from the base commit: the targets' inputs there (a plain manifest
    file is its own input), and GLOBAL_INPUTS. A path through a symlink is extracted as the
    link entries it crosses and its real path, so the extracted tree resolves it as the
    commit's checkout does."""
    collector = InputCollector(base)
    wanted: set[str] = set()
    for overlay in overlays:
        if base.is_file(overlay):
            wanted.add(overlay)
        else:
            wanted |= collector.inputs(overlay).paths()
    wanted |= set(GLOBAL_INPUTS)
    out: set[str] = set()
    for path in wanted:
        real, crossed = base.resolve(path)
        out.update(crossed)
        if real is not None and base.exists(real):
            out.add(real or ".")
    return sorted(out)


