#!/usr/bin/env bash
# Fetch the Pod Security Admission conformance fixtures (k8s.io/pod-security-admission,
# test/testdata/{baseline,restricted}/v1.N/{pass,fail}) at the version pinned in versions.env,
# through the Go module proxy, into the git-ignored .cache/psa/. The tests check the Pod
# Security rules against them. Idempotent: does nothing when .cache/psa holds the pin.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
versions="${FETCH_PSA_VERSIONS:-$root/tools/setup/versions.env}"
out="${FETCH_PSA_OUT:-$root/.cache/psa}"
[ -f "$versions" ] || { echo "fetch-psa: $versions not found" >&2; exit 1; }
# shellcheck source=versions.env
source "$versions"
# shellcheck source=gomod.sh
source "$root/tools/setup/gomod.sh"
modver="k8s.io/pod-security-admission@${POD_SECURITY_ADMISSION_VERSION:?}"
if [ -d "$out/testdata" ] && [ "$(cat "$out/.pins" 2>/dev/null)" = "$modver" ]; then
  exit 0
fi
fail() { echo "fetch-psa: $*" >&2; exit 1; }
command -v go >/dev/null || fail "'go' is not on PATH; install Go >= 1.22 (the fixtures come from the Go module proxy)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out"
echo "fetch-psa: $modver"
dir="$(GOFLAGS=-mod=mod go_mod_field "$modver" Dir)" \
  || fail "$modver: see above (POD_SECURITY_ADMISSION_VERSION in tools/setup/versions.env)"
[ -d "$dir/test/testdata/restricted" ] || fail "$modver has no test/testdata/restricted; the fixture layout changed upstream (edit fetch-psa.sh)"
cp -R "$dir/test/testdata" "$work/out/testdata"
chmod -R u+w "$work/out"
printf '%s\n' "$modver" > "$work/out/.pins"
mkdir -p "$(dirname "$out")"
rm -rf "$out.old"
[ -e "$out" ] && mv "$out" "$out.old"
mv "$work/out" "$out"
rm -rf "$out.old"
