"""The base revision's tree: only what the affected targets read there, extracted."""

from __future__ import annotations

from kustodian.git import GitReader
from kustodian.prmode.scope import GLOBAL_INPUTS, InputCollector


def base_paths(overlays: list[str], base: GitReader) -> list[str]:
    """What to extract from the base commit: the targets' inputs there (a plain manifest
    file is its own input), and GLOBAL_INPUTS."""
    collector = InputCollector(base)
    wanted: set[str] = set()
    for overlay in overlays:
        if base.is_file(overlay):
            wanted.add(overlay)
        else:
            wanted |= collector.inputs(overlay).paths()
    wanted |= set(GLOBAL_INPUTS)
    return sorted(p for p in wanted if base.exists(p))


