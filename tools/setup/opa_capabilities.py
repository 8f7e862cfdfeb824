"""Write the OPA capabilities file conftest runs with: the built-ins of the OPA version
conftest was built with, minus everything that reaches outside the evaluation or is not
deterministic (http.send, net.*, opa.runtime, time.now_ns, rand.*, uuid.*, ...), so a
Rego file in a pull request cannot send the environment out or read it into a report.

    python3 opa_capabilities.py <opa capabilities/vX.json> <output>
"""

from __future__ import annotations

import json
import sys

REMOVED_PREFIXES = ("http.", "net.", "opa.", "rand.", "uuid.", "time.now")


def restrict(capabilities: dict) -> dict:
    builtins = [b for b in capabilities.get("builtins", [])
                if not b.get("nondeterministic")
                and not str(b.get("name", "")).startswith(REMOVED_PREFIXES)]
    return {**capabilities, "builtins": builtins}


def main(source: str, target: str) -> None:
    with open(source, encoding="utf-8") as handle:
        data = restrict(json.load(handle))
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
