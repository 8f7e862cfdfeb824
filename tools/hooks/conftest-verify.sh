#!/usr/bin/env bash
# pre-commit hook: the Rego unit tests in policies/ (*_test.rego) with the pinned conftest.
set -euo pipefail
root="$(git rev-parse --show-toplevel)"
cd "$root"
conftest=.bin/conftest
[ -x "$conftest" ] || conftest="$(command -v conftest || true)"
if [ -z "$conftest" ]; then
  echo "conftest-verify: conftest is not installed; run \`make setup\` first" >&2
  exit 1
fi
caps=()   # the capabilities the gate runs the Rego with (no http.send, net.*, opa.runtime)
[ -f .bin/opa-capabilities.json ] && caps=(--capabilities .bin/opa-capabilities.json)
exec "$conftest" verify --no-color --policy policies --data policies --show-builtin-errors "${caps[@]}"
