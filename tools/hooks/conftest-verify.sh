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
exec "$conftest" verify --no-color --policy policies --data policies --show-builtin-errors
