"""no-plaintext-secrets: no Secret objects with data committed to git."""

from __future__ import annotations

from kustodian.rules.catalog._common import HIGH, RESOURCE, Rule, Violation


def check(r, ctx):
    for key in ("data", "stringData"):
        if r.obj.get(key):
            yield Violation(f"Secret {r.name} carries {key} in plain text (base64 is not "
                            "encryption)", (key,))


RULE = Rule(
    id="no-plaintext-secrets", severity=HIGH, category="secrets", scope=RESOURCE,
    kinds=frozenset({"Secret"}),
    title="No Secret data committed to git",
    rationale="Anything committed stays in the git history and every clone; Secret data is "
              "only base64-encoded. Use ExternalSecret or SealedSecret objects instead.",
    remediation="Replace the Secret with an ExternalSecret (or SealedSecret), or a "
                "secretGenerator fed from an uncommitted file; rotate the leaked values.",
    check=check)
