"""AppProject probes: what a project would let in, asked the way Argo CD answers."""

from __future__ import annotations

from kustodian.resources import Resource

APPPROJECT = frozenset({"AppProject"})
PROBE_HOST = "kustodian-probe.invalid"


def is_appproject(r: Resource) -> bool:
    return r.kind == "AppProject" and r.api_version.startswith("argoproj.io/")
