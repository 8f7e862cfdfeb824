"""RBAC helpers shared by the cluster-security rules: what a Role's rules grant."""

from __future__ import annotations

from collections.abc import Iterator

from kustodian.resources import Resource, as_dict, as_list

ROLE_KINDS = frozenset({"Role", "ClusterRole"})
BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})
READ_VERBS = frozenset({"get", "list", "watch", "*"})


def rules_of(role: Resource) -> Iterator[tuple[int, dict]]:
    """(index, rule) of every well-formed PolicyRule of a Role or ClusterRole."""
    for i, rule in enumerate(as_list(role.obj.get("rules"))):
        if isinstance(rule, dict):
            yield i, rule


def strings(rule: dict, key: str) -> list[str]:
    return [str(v) for v in as_list(rule.get(key))]


def grants(rule: dict, groups: set[str], resource: str, verbs: frozenset[str]) -> bool:
    """True when `rule` grants one of `verbs` on `resource` in one of the API `groups`."""
    rule_groups = set(strings(rule, "apiGroups"))
    rule_resources = set(strings(rule, "resources"))
    rule_verbs = set(strings(rule, "verbs"))
    if rule.get("resourceNames"):
        return False   # limited to named objects
    return (bool(rule_groups & (groups | {"*"})) and bool(rule_resources & {resource, "*"})
            and bool(rule_verbs & verbs))


def role_ref(binding: Resource) -> tuple[str, str]:
    """(kind, name) of a binding's roleRef."""
    ref = as_dict(binding.obj.get("roleRef"))
    return str(ref.get("kind") or ""), str(ref.get("name") or "")
