#!/usr/bin/env bash
# Build the throw-away cluster's binaries from the Go module proxy into a git-ignored cache
# keyed by version; a binary already there is reused. Usage:
#   tools/cluster/build.sh [etcd] [kube-apiserver] [kubectl] [kube-controller-manager] [kube-scheduler]
# (no argument: etcd, kube-apiserver, kubectl). Prints nothing but progress on stderr.
# The cache root is $KUSTODIAN_CLUSTER_CACHE, else <repo>/.cache/cluster.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=../setup/versions.env
source "$root/tools/setup/versions.env"
# shellcheck source=../setup/gomod.sh
source "$root/tools/setup/gomod.sh"
cache="${KUSTODIAN_CLUSTER_CACHE:-$root/.cache/cluster}"
command -v go >/dev/null || { echo "cluster build: 'go' is not on PATH; install Go >= 1.24" >&2; exit 1; }
[ $# -gt 0 ] || set -- etcd kube-apiserver kubectl

k8s_version="$CLUSTER_KUBERNETES_VERSION"      # e.g. v1.34.4
etcd_version="$CLUSTER_ETCD_VERSION"           # e.g. v3.6.16
k8s_dir="$cache/kubernetes-$k8s_version"
etcd_dir="$cache/etcd-$etcd_version"
# one package at a time, two compile jobs: the machine is small and shared
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -p=2 -buildvcs=false" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

log() { echo "cluster build: $*" >&2; }
# one build at a time per cache (another run waits, then finds the binaries built)
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

k8s_module() { # write the wrapper module that builds Kubernetes commands from the proxy
  local src="$k8s_dir/src" minor="${k8s_version#v1.}" gomod
  [ -f "$src/.ready" ] && return 0
  rm -rf "$src" && mkdir -p "$src"
  gomod="$(go_mod_field "k8s.io/kubernetes@$k8s_version" GoMod "$src")" \
    || { log "could not download k8s.io/kubernetes@$k8s_version (see above)"; exit 1; }
  {
    echo "module kustodian.invalid/cluster-build"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes $k8s_version"
    echo
    echo "replace ("
    # every staging module kubernetes' own go.mod points at ./staging/... comes from the proxy
    # at the matching v0.Y.Z release
    sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\t\1 => \1 v0.'"$minor"'#p' "$gomod"
    echo ")"
  } > "$src/go.mod"
  cat > "$src/tools.go" <<'GO'
//go:build tools

// Package tools pins the Kubernetes commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  log "resolving k8s.io/kubernetes $k8s_version (go mod tidy)"
  (cd "$src" && go mod tidy)
  touch "$src/.ready"
}

etcd_module() {
  local src="$etcd_dir/src"
  [ -f "$src/.ready" ] && return 0
  rm -rf "$src" && mkdir -p "$src"
  cat > "$src/go.mod" <<MOD
module kustodian.invalid/etcd-build

go 1.24.0

require go.etcd.io/etcd/server/v3 $etcd_version
MOD
  cat > "$src/main.go" <<'GO'
// Command etcd runs etcd's own entry point (the server module's etcdmain).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "resolving go.etcd.io/etcd/server/v3 $etcd_version (go mod tidy)"
  (cd "$src" && go mod tidy)
  touch "$src/.ready"
}

build_k8s() { # $1 command name
  local out="$k8s_dir/bin/$1" minor="${k8s_version#v1.}"
  minor="${minor%%.*}"
  [ -x "$out" ] && return 0
  k8s_module
  mkdir -p "$k8s_dir/bin"
  log "building $1 $k8s_version (a cold build takes minutes)"
  local start=$SECONDS
  (cd "$k8s_dir/src" && go build -trimpath -o "$out.tmp" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$k8s_version \
    -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$minor \
    -X k8s.io/component-base/version.gitTreeState=clean \
    -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version" "k8s.io/kubernetes/cmd/$1")
  mv "$out.tmp" "$out"
  log "built $1 in $((SECONDS - start)) s"
}

build_etcd() {
  local out="$etcd_dir/bin/etcd"
  [ -x "$out" ] && return 0
  etcd_module
  mkdir -p "$etcd_dir/bin"
  log "building etcd $etcd_version"
  local start=$SECONDS
  (cd "$etcd_dir/src" && go build -trimpath -o "$out.tmp" -ldflags "-s -w" .)
  mv "$out.tmp" "$out"
  log "built etcd in $((SECONDS - start)) s"
}

for component in "$@"; do
  case "$component" in
    etcd) build_etcd ;;
    kube-apiserver|kubectl|kube-controller-manager|kube-scheduler) build_k8s "$component" ;;
    *) log "unknown component '$component' (etcd, kube-apiserver, kubectl, kube-controller-manager, kube-scheduler)"; exit 2 ;;
  esac
done
