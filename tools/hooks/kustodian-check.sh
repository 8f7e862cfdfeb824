#!/usr/bin/env bash
# pre-commit hook: the policy gate on what this commit changes.
# With a HEAD to compare with, it runs PR mode against HEAD (pre-commit has stashed the
# unstaged changes, so the work tree is what will be committed): only the overlays the commit
# can affect are rendered, and only findings the commit introduces block it.
# On the first commit of a repository it checks everything.
set -euo pipefail
root="$(git rev-parse --show-toplevel)"
cd "$root"
if [ -x .venv/bin/kustodian ]; then
  kustodian=(.venv/bin/kustodian)
elif command -v kustodian >/dev/null 2>&1; then
  kustodian=(kustodian)
else
  echo "kustodian-check: kustodian is not installed; run \`make setup\` first" >&2
  exit 1
fi
if git rev-parse --verify --quiet HEAD >/dev/null; then
  exec "${kustodian[@]}" check --base-ref HEAD --new-only "$@"
fi
exec "${kustodian[@]}" check "$@"
