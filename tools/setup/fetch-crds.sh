#!/usr/bin/env bash
# Fetch the upstream CRDs this repository uses, at the versions pinned in versions.env, through
# the Go module proxy (`go mod download`), and convert them to strict JSON Schema files in the
# git-ignored .cache/crds/ (tools/setup/crd_to_jsonschema.py). Idempotent: does nothing when
# .cache/crds already holds the pinned versions; replaces the directory atomically otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# Overridable for tests: another versions file, another output directory.
versions="${FETCH_CRDS_VERSIONS:-$root/tools/setup/versions.env}"
out="${FETCH_CRDS_OUT:-$root/.cache/crds}"
[ -f "$versions" ] || { echo "fetch-crds: $versions not found" >&2; exit 1; }
# shellcheck source=versions.env
source "$versions"
# shellcheck source=gomod.sh
source "$root/tools/setup/gomod.sh"
py="$root/.venv/bin/python"

# module@version  sub-directory holding the CRD YAML in that module's zip  [Go toolchain the
# module's go.mod needs: `go mod download` refuses a module newer than the running Go]
sources=(
  "github.com/argoproj/argo-cd/v3@${ARGOCD_VERSION:?} manifests/crds ${ARGOCD_GOTOOLCHAIN:-local}"
  "sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION:?} config/crd/standard"
  "github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION:?} example/prometheus-operator-crd"
  "github.com/external-secrets/external-secrets@${EXTERNAL_SECRETS_VERSION:?} config/crds/bases"
)
# The converter is part of the pin: a changed converter regenerates the cache.
converter="$root/tools/setup/crd_to_jsonschema.py"
pins="$(printf '%s\n' "${sources[@]}" "converter $(sha256sum "$converter" | cut -d' ' -f1)" "source")"
if [ -f "$out/index.json" ] && [ "$(cat "$out/.pins" 2>/dev/null)" = "$pins" ]; then
  exit 0
fi

fail() { echo "fetch-crds: $*" >&2; exit 1; }
command -v go >/dev/null || fail "'go' is not on PATH; install Go >= 1.22 (the CRDs come from the Go module proxy)"
[ -x "$py" ] || fail "$py is missing; run \`make setup\` (it creates the venv first)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out/source"
files=()
for entry in "${sources[@]}"; do
  read -r modver sub toolchain <<<"$entry"
  echo "fetch-crds: $modver ($sub)"
  dir="$(GOTOOLCHAIN="${toolchain:-local}" GOFLAGS=-mod=mod go_mod_field "$modver" Dir)" \
    || fail "$modver: see above"
  [ -d "$dir/$sub" ] || fail "$modver has no directory $sub; the CRD location changed upstream (edit fetch-crds.sh)"
  found=0
  for f in "$dir/$sub"/*.yaml; do
    [ -f "$f" ] || continue
    files+=("$f"); found=1
    # the manifests themselves too: the throw-away cluster (tools/cluster) installs them
    cp "$f" "$work/out/source/$(basename "${modver%%@*}")-$(basename "$f")"
  done
  [ "$found" = 1 ] || fail "$modver: no YAML files in $sub"
done

"$py" "$root/tools/setup/crd_to_jsonschema.py" "$work/out" "${files[@]}"
printf '%s\n' "$pins" > "$work/out/.pins"
mkdir -p "$(dirname "$out")"
rm -rf "$out.old"
[ -e "$out" ] && mv "$out" "$out.old"
mv "$work/out" "$out"
rm -rf "$out.old"
