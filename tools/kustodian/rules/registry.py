"""The rule catalogue: every module under `kustodian.rules.catalog` exporting `RULE`."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from kustodian.rules.base import Rule


@lru_cache(maxsize=1)
def all_rules() -> tuple[Rule, ...]:
    """Every built-in rule, sorted by category then id."""
    from kustodian.rules import catalog

    rules: dict[str, Rule] = {}
    for info in pkgutil.iter_modules(catalog.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{catalog.__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if not isinstance(rule, Rule):
            continue
        if rule.id in rules:
            raise RuntimeError(f"duplicate rule id {rule.id} in {info.name}")
        rules[rule.id] = rule
    from kustodian.rules.meta import META_RULES

    for rule in META_RULES:
        rules[rule.id] = rule
    order = {c: i for i, c in enumerate(("pod-security", "cluster-security", "reliability",
                                         "supply-chain", "secrets", "network",
                                         "cross-resource", "hygiene"))}
    return tuple(sorted(rules.values(), key=lambda r: (order.get(r.category, 99), r.id)))


def rules_by_id() -> dict[str, Rule]:
    return {r.id: r for r in all_rules()}
