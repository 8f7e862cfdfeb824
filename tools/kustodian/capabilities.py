"""Which OPA built-ins Rego may call under the gate: one rule, applied by `make setup` when
it writes the capabilities file conftest runs with (tools/setup/opa_capabilities.py), and
checked by the policy cache, which keeps results only when that file allows nothing else
(conftest_runner). Standard library only: setup runs it with the system Python.

Removed: every built-in OPA flags non-deterministic and the ones whose result is not a
function of the policies, data and input: the network (http.send, net.*), the runtime
(opa.runtime), the clock (time.now_ns; a JWT or certificate chain verified against the
current time), randomness (rand.*, uuid.*), files (a JSON schema's `$ref`; conftest's own
parse_config* built-ins, listed in no OPA capabilities file). No host is allowed to the
network either. So a Rego file from a pull request cannot send the environment out or read
it into a report, and a policy's result depends only on what the policy cache keys.
"""

from __future__ import annotations

IMPURE_PREFIXES = ("http.", "net.", "opa.", "rand.", "uuid.", "time.now",
                   "crypto.x509.parse_and_verify_certificates", "io.jwt.decode_verify",
                   "json.match_schema", "json.verify_schema", "parse_config",
                   "parse_combined_config")


def allowed(builtin: object) -> bool:
    """Whether the gate lets Rego call this built-in (an entry of a capabilities file)."""
    return (isinstance(builtin, dict) and not builtin.get("nondeterministic")
            and not str(builtin.get("name", "")).startswith(IMPURE_PREFIXES))


def restrict(capabilities: dict) -> dict:
    """An OPA capabilities document reduced to the built-ins the gate allows, no network."""
    return {**capabilities, "allow_net": [],
            "builtins": [b for b in capabilities.get("builtins", []) if allowed(b)]}


def only_allowed(capabilities: object) -> bool:
    """Whether a capabilities document allows no built-in the gate would remove (a missing
    builtins list means OPA's defaults: everything)."""
    builtins = capabilities.get("builtins") if isinstance(capabilities, dict) else None
    return isinstance(builtins, list) and all(allowed(b) for b in builtins)
