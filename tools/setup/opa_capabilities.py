"""Write the OPA capabilities file conftest runs with: the built-ins of the OPA version
conftest was built with, minus everything that reaches outside the evaluation or is not
deterministic (http.send, net.*, opa.runtime, time.now_ns, rand.*, uuid.*, ...), and the
ones that read files or the network through a JSON schema's `$ref` (json.match_schema,
json.verify_schema) or the clock inside (crypto.x509.parse_and_verify_certificates*), with
no host allowed to the network; so a Rego file in a pull request cannot send the
environment out or read it into a report, and a policy's result depends only on the
policies, data and input (what the gate's policy cache keys).

    python3 opa_capabilities.py <opa capabilities/vX.json> <output>
"""

from __future__ import annotations

import json
import sys

REMOVED_PREFIXES = ("http.", "net.", "opa.", "rand.", "uuid.", "time.now",
                    "json.match_schema", "json.verify_schema",
                    "crypto.x509.parse_and_verify_certificates")


def restrict(capabilities: dict) -> dict:
    builtins = [b for b in capabilities.get("builtins", [])
                if not b.get("nondeterministic")
                and not str(b.get("name", "")).startswith(REMOVED_PREFIXES)]
    return {**capabilities, "builtins": builtins, "allow_net": []}


def main(source: str, target: str) -> None:
    with open(source, encoding="utf-8") as handle:
        data = restrict(json.load(handle))
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
