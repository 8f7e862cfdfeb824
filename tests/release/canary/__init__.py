"""The canary suites: `kustodian canary analyze` and `canary auto` against the canary lab
(lab.py). A package, so that the lab is package-scoped: pytest stops it once a worker's next
test is outside this package, not at the end of the worker's session."""
