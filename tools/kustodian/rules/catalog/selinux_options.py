"""selinux-options: no custom SELinux user/role and only the container_* types."""

from __future__ import annotations

from kustodian.resources import as_dict
from kustodian.rules.catalog._common import HIGH, Rule, Violation, sc_path

ALLOWED_TYPES = ("", "container_t", "container_init_t", "container_kvm_t",
                 "container_engine_t")


def _problems(opts: dict) -> list[tuple[str, str]]:
    out = []
    if opts.get("type") not in (None, *ALLOWED_TYPES):
        out.append(("type", f"type {opts['type']}"))
    for key in ("user", "role"):
        if opts.get(key) not in (None, ""):
            out.append((key, f"{key} {opts[key]}"))
    return out


def check(w, ctx):
    pod_opts = as_dict(w.pod_security_context.get("seLinuxOptions"))
    for key, text in _problems(pod_opts):
        yield Violation(f"the pod sets seLinuxOptions {text}",
                        (*w.spec_path, "securityContext", "seLinuxOptions", key))
    for c in w.containers():
        for key, text in _problems(as_dict(c.security_context.get("seLinuxOptions"))):
            yield Violation(f"container {c.name!r} sets seLinuxOptions {text}",
                            sc_path(c.path, "seLinuxOptions", key), c.name)


RULE = Rule(
    id="selinux-options", severity=HIGH, category="pod-security",
    title="SELinux options stay within the container types",
    rationale="A custom SELinux user, role or type can escape the container's SELinux "
              "confinement. Baseline profile: type empty or container_t, container_init_t, "
              "container_kvm_t, container_engine_t; user and role unset.",
    remediation="Remove seLinuxOptions.user/role and use one of the allowed types (or none).",
    check=check,
    pss=("seLinuxOptions",))
