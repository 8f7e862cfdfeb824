"""Small helpers shared by the rule modules."""

from __future__ import annotations

from kustodian.model import Severity
from kustodian.rules.base import OVERLAY, RESOURCE, WORKLOAD, Rule, Violation

__all__ = [
    "CRITICAL",
    "HIGH",
    "INFO",
    "LOW",
    "MEDIUM",
    "OVERLAY",
    "RESOURCE",
    "SCALABLE",
    "WORKLOAD",
    "Rule",
    "Violation",
    "fmt",
    "sc_path",
]

CRITICAL, HIGH, MEDIUM, LOW, INFO = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM,
                                     Severity.LOW, Severity.INFO)
SCALABLE = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})


def fmt(value: object) -> str:
    """A value as it is written in YAML (true/false, not True/False)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sc_path(container_path: tuple, *keys: str) -> tuple:
    """Path of a field inside a container's securityContext."""
    return (*container_path, "securityContext", *keys)


def missing_resources(w, section: str, noun: str):
    """Violations for containers without a CPU or memory `resources.<section>` value, located
    at the deepest part of `resources.<section>` that exists."""
    from kustodian.resources import as_dict

    for c in w.containers(("initContainers", "containers")):
        resources = as_dict(c.spec.get("resources"))
        values = as_dict(resources.get(section))
        missing = [k for k in ("cpu", "memory") if values.get(k) in (None, "")]
        if missing:
            path = (*c.path, "resources", section) if resources else (*c.path, "resources")
            yield Violation(f"container {c.name!r} has no {' and '.join(missing)} {noun}",
                            (*path, missing[0]) if values else path, c.name)
