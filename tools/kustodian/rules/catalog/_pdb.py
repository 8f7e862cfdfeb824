"""PodDisruptionBudget arithmetic (int-or-percent, rounded up like the disruption controller)."""

from __future__ import annotations

import math
from typing import Any


def scaled(value: Any, total: int) -> int | None:
    """An int-or-percent field as a pod count for `total` pods (percentages round up)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%") and text[:-1].strip().isdigit():
            return math.ceil(int(text[:-1]) * total / 100)
        if text.isdigit():
            return int(text)
    return None


def allowed_disruptions(pdb_spec: dict, total: int) -> tuple[int | None, str | None]:
    """(voluntary disruptions allowed with `total` healthy pods, the field deciding it)."""
    if "minAvailable" in pdb_spec:
        needed = scaled(pdb_spec["minAvailable"], total)
        return (None if needed is None else total - needed), "minAvailable"
    if "maxUnavailable" in pdb_spec:
        return scaled(pdb_spec["maxUnavailable"], total), "maxUnavailable"
    return None, None


def is_zero_budget(pdb_spec: dict) -> tuple[bool, str | None]:
    """Budgets that block every eviction whatever the replica count."""
    if "maxUnavailable" in pdb_spec:
        value = pdb_spec["maxUnavailable"]
        if value in (0, "0", "0%"):
            return True, "maxUnavailable"
    if "minAvailable" in pdb_spec and str(pdb_spec["minAvailable"]).strip() == "100%":
        return True, "minAvailable"
    return False, None
