"""`kustodian bump`, `promote` and `canary` (owned by the release work)."""

COMMANDS: list = []
