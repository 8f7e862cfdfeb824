#!/usr/bin/env bash
# Install the pinned kustomize, conftest and helm into the project-local, git-ignored .bin/
# the upstream-documented way (go install). Idempotent: skips a tool already at its pin.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=versions.env
source "$root/tools/setup/versions.env"
# shellcheck source=gomod.sh
source "$root/tools/setup/gomod.sh"
bin="$root/.bin"
mkdir -p "$bin"
command -v go >/dev/null || { echo "setup: 'go' is not on PATH; install Go >= 1.22 (needed to build kustomize, conftest and helm)" >&2; exit 1; }

have_version() { # $1 stamp name, $2 version
  [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.version" 2>/dev/null)" = "$2" ]
}
if ! have_version kustomize "$KUSTOMIZE_VERSION"; then
  echo "setup: installing kustomize $KUSTOMIZE_VERSION into .bin/"
  GOBIN="$bin" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  echo "$KUSTOMIZE_VERSION" > "$bin/.kustomize.version"
fi
if ! have_version conftest "$CONFTEST_VERSION"; then
  echo "setup: installing conftest $CONFTEST_VERSION into .bin/"
  GOBIN="$bin" CGO_ENABLED=0 go install "github.com/open-policy-agent/conftest@$CONFTEST_VERSION"
  echo "$CONFTEST_VERSION" > "$bin/.conftest.version"
fi
if ! have_version helm "$HELM_VERSION"; then
  echo "setup: installing helm $HELM_VERSION into .bin/"
  GOBIN="$bin" CGO_ENABLED=0 go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  echo "$HELM_VERSION" > "$bin/.helm.version"
fi
# The OPA capabilities conftest runs with (no http.send, net.*, opa.runtime or other
# non-deterministic built-ins): derived from the OPA module conftest was built with.
caps="$bin/opa-capabilities.json"
caps_stamp="$CONFTEST_VERSION $(cat "$root/tools/setup/opa_capabilities.py" "$root/tools/kustodian/capabilities.py" | sha256sum | cut -c1-16)"
if [ ! -s "$caps" ] || [ "$(cat "$bin/.opa-capabilities.version" 2>/dev/null)" != "$caps_stamp" ]; then
  opa_version="$(go version -m "$bin/conftest" | awk '$2 == "github.com/open-policy-agent/opa" {print $3}')"
  [ -n "$opa_version" ] || { echo "setup: cannot tell the OPA version inside conftest" >&2; exit 1; }
  opa_dir="$(GOFLAGS=-mod=mod go_mod_field "github.com/open-policy-agent/opa@$opa_version" Dir)" \
    || { echo "setup: cannot fetch the OPA module conftest was built with (see above)" >&2; exit 1; }
  python3 "$root/tools/setup/opa_capabilities.py" "$opa_dir/capabilities/$opa_version.json" "$caps"
  echo "$caps_stamp" > "$bin/.opa-capabilities.version"
fi
