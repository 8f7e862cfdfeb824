"""apparmor-profile: AppArmor is never set to Unconfined."""

from __future__ import annotations

from kustodian.resources import as_dict
from kustodian.rules.catalog._common import HIGH, Rule, Violation, sc_path

ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
ALLOWED_TYPES = ("RuntimeDefault", "Localhost")


def _annotation_ok(value: object) -> bool:
    text = str(value)
    return text == "runtime/default" or text.startswith("localhost/")


def check(w, ctx):
    pod_type = as_dict(w.pod_security_context.get("appArmorProfile")).get("type")
    if pod_type is not None and pod_type not in ALLOWED_TYPES:
        yield Violation(f"the pod sets appArmorProfile.type: {pod_type}",
                        (*w.spec_path, "securityContext", "appArmorProfile", "type"))
    for c in w.containers():
        ctype = as_dict(c.security_context.get("appArmorProfile")).get("type")
        if ctype is not None and ctype not in ALLOWED_TYPES:
            yield Violation(f"container {c.name!r} sets appArmorProfile.type: {ctype}",
                            sc_path(c.path, "appArmorProfile", "type"), c.name)
    for key, value in w.pod_annotations.items():
        if key.startswith(ANNOTATION_PREFIX) and not _annotation_ok(value):
            yield Violation(f"annotation {key}: {value} disables AppArmor",
                            (*w.metadata_path, "annotations", key),
                            key[len(ANNOTATION_PREFIX):])


RULE = Rule(
    id="apparmor-profile", severity=HIGH, category="pod-security",
    title="AppArmor is not disabled",
    rationale="An Unconfined AppArmor profile removes the mandatory access control the "
              "runtime applies by default. Baseline profile: only RuntimeDefault or Localhost "
              "(annotations: runtime/default or localhost/*).",
    remediation="Remove the Unconfined appArmorProfile (or annotation), or use "
                "appArmorProfile: {type: RuntimeDefault}.",
    check=check,
    pss=("appArmorProfile",))
