"""What a rule is: metadata plus a `check` function over a workload, a resource or an overlay."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kustodian.model import Severity

# scope of a rule's `check` argument
WORKLOAD = "workload"    # check(workload: Workload, ctx: OverlayContext)
RESOURCE = "resource"    # check(resource: Resource, ctx: OverlayContext), filtered by `kinds`
OVERLAY = "overlay"      # check(ctx: OverlayContext): every resource of one rendered overlay


@dataclass(frozen=True)
class Violation:
    """One problem a rule found; `path` is the field in the rendered resource to blame."""

    message: str
    path: tuple = ()
    container: str | None = None
    resource: Any = None          # the Resource to blame (overlay rules); default: the checked one
    remediation: str | None = None


@dataclass(frozen=True)
class Rule:
    """A built-in rule: stable id, default severity, category, docs and the check itself."""

    id: str
    severity: Severity
    category: str
    title: str
    rationale: str
    remediation: str
    check: Callable[..., Iterable[Violation]]
    scope: str = WORKLOAD
    envs: tuple[str, ...] | None = None      # None: every environment
    kinds: frozenset[str] | None = None      # RESOURCE rules: kinds to run on
    references: tuple[str, ...] = ()
    # the Pod Security Admission checks (upstream ids) this rule enforces: the rule must flag
    # every `fail` fixture of those checks and no `pass` fixture (tests/.../pss conformance)
    pss: tuple[str, ...] = ()

    def applies_to_env(self, env: str | None) -> bool:
        return self.envs is None or (env is not None and env in self.envs)
