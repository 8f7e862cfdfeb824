"""`kustodian check` and `kustodian docs` (owned by the policy-gate work)."""

COMMANDS: list = []
