#!/usr/bin/env bash
# Install the peer tools the comparison runs against, at pinned versions, OUTSIDE the repository
# (default ~/.cache/kustodian-bench; override with KUSTODIAN_BENCH_CACHE). Idempotent: a tool
# already at its pin is skipped. Nothing here is committed. Each install is independent: one
# that the registry refuses is reported and the others still go ahead (compare.py then lists
# the tool as "not installed").
#
#   bench/peers/install.sh            # all peers
#   bench/peers/install.sh kube-score # only some
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${KUSTODIAN_BENCH_CACHE:-$HOME/.cache/kustodian-bench}"
bin="$cache/bin"
mkdir -p "$bin"

# Pins (looked up with `go list -m -versions` and `pip index versions`).
KUBECONFORM_VERSION=v0.8.0
KUBE_SCORE_VERSION=v1.20.0
KUBE_LINTER_VERSION=v0.7.6
POLARIS_VERSION=v10.1.4
CHECKOV_VERSION=3.3.30

stamp_ok() { [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" > "$bin/.$1.version"; }

go_tool() { # name version module-path
  local name=$1 version=$2 pkg=$3
  if stamp_ok "$name" "$version"; then echo "peers: $name $version already installed"; return 0; fi
  echo "peers: go install $pkg@$version"
  if GOBIN="$bin" CGO_ENABLED=0 GOFLAGS=-mod=mod go install "$pkg@$version"; then
    stamp "$name" "$version"
  else
    echo "peers: $name $version could not be installed (see above); it is left out of the comparison" >&2
    return 1
  fi
}

install_checkov() {
  local venv="$cache/checkov-venv"
  if stamp_ok checkov "$CHECKOV_VERSION"; then echo "peers: checkov $CHECKOV_VERSION already installed"; return 0; fi
  echo "peers: pip install checkov==$CHECKOV_VERSION into $venv"
  python3 -m venv "$venv" && "$venv/bin/pip" install -q --upgrade pip \
    && "$venv/bin/pip" install -q "checkov==$CHECKOV_VERSION" || {
      echo "peers: checkov could not be installed; it is left out of the comparison" >&2; return 1; }
  ln -sf "$venv/bin/checkov" "$bin/checkov"
  stamp checkov "$CHECKOV_VERSION"
}

install_conftest() {
  # conftest is the repository's own pinned binary (make setup); link it so every peer is in one dir.
  if [ -x "$root/.bin/conftest" ]; then ln -sf "$root/.bin/conftest" "$bin/conftest"; echo "peers: conftest linked from .bin/"
  else echo "peers: .bin/conftest missing: run 'make setup' first" >&2; return 1; fi
}

install_kubeconform_schemas() {
  # kubeconform cannot fetch its schemas here (no internet); convert the Kubernetes JSON Schemas
  # that the pinned kubernetes-validate package ships (already in .venv) into kubeconform's
  # standalone layout: refs to "/api/_definitions.json" made relative, "$schema"/"$id" dropped
  # (kubeconform would try to resolve them over the network). CRDs come from .cache/crds/.
  local py="$root/.venv/bin/python" out="$cache/kubeconform-schemas"
  [ -x "$py" ] || { echo "peers: .venv missing: run 'make setup' first" >&2; return 1; }
  "$py" - "$out" <<'PY'
import json, os, sys
from pathlib import Path
import kubernetes_validate
out = Path(sys.argv[1])
src_root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
for src in sorted(src_root.glob("v*-local-strict")):
    dst = out / src.name.replace("-local-strict", "-standalone-strict")
    if (dst / ".done").exists():
        continue
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.glob("*.json"):
        text = f.read_text().replace('"/api/_definitions.json#', '"_definitions.json#')
        data = json.loads(text)
        data.pop("$schema", None)
        data.pop("$id", None)
        (dst / f.name).write_text(json.dumps(data))
    (dst / ".done").write_text("")
print(f"peers: kubeconform schemas in {out}")
PY
}

want=("$@"); [ ${#want[@]} -eq 0 ] && want=(kubeconform kubeconform-schemas kube-score kube-linter polaris checkov conftest)
status=0
for tool in "${want[@]}"; do
  case "$tool" in
    kubeconform) go_tool kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform || status=1 ;;
    kubeconform-schemas) install_kubeconform_schemas || status=1 ;;
    kube-score) go_tool kube-score "$KUBE_SCORE_VERSION" github.com/zegl/kube-score/cmd/kube-score || status=1 ;;
    kube-linter) go_tool kube-linter "$KUBE_LINTER_VERSION" golang.stackrox.io/kube-linter/cmd/kube-linter || status=1 ;;
    polaris) go_tool polaris "$POLARIS_VERSION" github.com/fairwindsops/polaris/v10 || status=1 ;;
    checkov) install_checkov || status=1 ;;
    conftest) install_conftest || status=1 ;;
    *) echo "peers: unknown tool '$tool' (known: kubeconform kubeconform-schemas kube-score kube-linter polaris checkov conftest)" >&2; status=2 ;;
  esac
done
echo "peers: installed into $bin"
exit $status
