#!/usr/bin/env bash
# Build the controllers the Argo CD end-to-end test runs (tests/e2e/), at the versions pinned in
# versions.env, from the Go module proxy into the git-ignored cache .cache/e2e/<name>-<version>/.
# A second run reuses what is there; a version bump builds into a new directory.
#   argocd            application-controller + repo-server (one multi-call binary, linked by name)
#   kwok              simulated nodes and pod lifecycle
#   external-secrets  the External Secrets Operator (its `fake` provider is the secret store)
# Usage: e2e-tools.sh [argocd|kwok|external-secrets ...]   (default: all, one at a time)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=versions.env
source "$root/tools/setup/versions.env"
# shellcheck source=gomod.sh
source "$root/tools/setup/gomod.sh"
cache="${E2E_CACHE:-$root/.cache/e2e}"
mkdir -p "$cache"
fail() { echo "e2e-tools: $*" >&2; exit 1; }
command -v go >/dev/null || fail "'go' is not on PATH; install Go >= 1.22 (the controllers are built from the Go module proxy)"

# The upstream go.mod's replace directives that point at module versions (local ./path replaces
# name nested modules; those are required at the release's own version instead).
replace_block() { # $1 module@version
  local mod="${1%@*}" ver="${1#*@}" gomod
  gomod="$(GOFLAGS=-mod=mod go_mod_field "$mod@$ver" GoMod)" \
    || fail "could not download the go.mod of $mod@$ver (see above)"
  awk '
    /^replace \($/ { inblock = 1; next }
    inblock && /^\)$/ { inblock = 0; next }
    inblock && /=>/ && $0 !~ /=> *\.\.?\// { sub(/\/\/.*/, ""); print "replace " $0 }
    /^replace [^(]/ && $0 !~ /=> *\.\.?\// { print }
  ' "$gomod"
}

# build NAME VERSION MODULE PACKAGE TOOLCHAIN LDFLAGS
build() {
  local name="$1" ver="$2" mod="$3" pkg="$4" toolchain="$5" ldflags="$6"
  local dest="$cache/$name-$ver"
  if [ -x "$dest/$name" ]; then return 0; fi
  echo "e2e-tools: building $name $ver ($pkg, $toolchain) into ${dest#"$root"/}"
  local start=$SECONDS
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/mod"
  export GOTOOLCHAIN="$toolchain" GOFLAGS=-mod=mod CGO_ENABLED=0
  {
    printf 'module kustodian.local/e2e/%s\n\ngo %s\n\nrequire %s %s\n\n' \
      "$name" "$(go env GOVERSION | sed 's/^go//')" "$mod" "$ver"
    replace_block "$mod@$ver"
  } > "$work/mod/go.mod"
  (cd "$work/mod" && go get "$pkg@$ver") \
    || fail "go get $pkg@$ver failed (see above)"
  mkdir -p "$dest.tmp"
  (cd "$work/mod" && go build -trimpath -ldflags "-s -w $ldflags" -o "$dest.tmp/$name" "$pkg") \
    || fail "go build $pkg@$ver failed (see above)"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  echo "e2e-tools: $name $ver built in $((SECONDS - start)) s"
  unset GOTOOLCHAIN GOFLAGS CGO_ENABLED
}

build_argocd() {
  local pkg=github.com/argoproj/argo-cd/v3
  build argocd "$ARGOCD_VERSION" "$pkg" "$pkg/cmd" "$ARGOCD_GOTOOLCHAIN" \
    "-X $pkg/common.version=${ARGOCD_VERSION#v} -X $pkg/common.gitTag=$ARGOCD_VERSION -X $pkg/common.gitTreeState=clean"
  local dest="$cache/argocd-$ARGOCD_VERSION"
  # cmd/main.go dispatches on its own name.
  ln -sf argocd "$dest/argocd-application-controller"
  ln -sf argocd "$dest/argocd-repo-server"
  # The repo-server runs hack/git-verify-wrapper.sh from PATH; take it from the same release.
  if [ ! -x "$dest/git-verify-wrapper.sh" ]; then
    local dir
    dir="$(GOTOOLCHAIN="$ARGOCD_GOTOOLCHAIN" GOFLAGS=-mod=mod \
      go_mod_field "$pkg@$ARGOCD_VERSION" Dir)" || fail "could not download $pkg@$ARGOCD_VERSION (see above)"
    [ -f "$dir/hack/git-verify-wrapper.sh" ] \
      || fail "$pkg@$ARGOCD_VERSION has no hack/git-verify-wrapper.sh (the repo-server runs it)"
    install -m 0755 "$dir/hack/git-verify-wrapper.sh" "$dest/git-verify-wrapper.sh"
  fi
}

build_kwok() {
  build kwok "$KWOK_VERSION" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok "$E2E_GOTOOLCHAIN" \
    "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}"
  # kwok alone has no stages (kwokctl passes them): the release's own "fast" node and pod
  # stages plus the node heartbeat, as one config file.
  local dest="$cache/kwok-$KWOK_VERSION" dir stage
  [ -f "$dest/stages.yaml" ] && return 0
  dir="$(GOFLAGS=-mod=mod go_mod_field "sigs.k8s.io/kwok@$KWOK_VERSION" Dir)" \
    || fail "could not download sigs.k8s.io/kwok@$KWOK_VERSION (see above)"
  for stage in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready \
               pod/fast/pod-complete pod/fast/pod-delete; do
    [ -f "$dir/kustomize/stage/$stage.yaml" ] || fail "kwok $KWOK_VERSION has no stage $stage"
    printf -- '---\n'; cat "$dir/kustomize/stage/$stage.yaml"
  done > "$dest/stages.yaml.tmp"
  mv "$dest/stages.yaml.tmp" "$dest/stages.yaml"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(argocd kwok external-secrets)
for t in "${targets[@]}"; do
  case "$t" in
    argocd) build_argocd ;;
    kwok) build_kwok ;;
    external-secrets) build external-secrets "$EXTERNAL_SECRETS_VERSION" \
      github.com/external-secrets/external-secrets github.com/external-secrets/external-secrets \
      "$E2E_GOTOOLCHAIN" "" ;;
    *) fail "unknown target '$t' (argocd, kwok, external-secrets)" ;;
  esac
done
