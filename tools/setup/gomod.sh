# Sourced by the setup and cluster scripts: one way to ask the Go module proxy where a module
# version is. (No shebang: not run on its own.)

# go_mod_field MODULE@VERSION FIELD [DIR]
# Prints FIELD (Dir, GoMod, Info, ...) of `go mod download -json MODULE@VERSION`, run in DIR
# (default: an empty temporary directory, outside any module) with the caller's GOTOOLCHAIN
# and GOFLAGS. Only go's stdout is JSON: its stderr carries progress such as
# "go: downloading go1.27.3". On failure prints what go said and returns 1.
go_mod_field() {
  local modver="$1" field="$2" dir="${3:-}" own="" err out value
  if [ -z "$dir" ]; then
    own="$(mktemp -d)" && dir="$own"
  fi
  err="$(mktemp)"
  if out="$(cd "$dir" && go mod download -json "$modver" 2>"$err")"; then
    value="$(python3 -c '
import json, sys
try:
    print(json.loads(sys.stdin.read()).get(sys.argv[1], ""))
except ValueError:
    pass
' "$field" <<<"$out")"
  else
    value=""
  fi
  if [ -z "$value" ]; then
    echo "could not download $modver through the Go module proxy ($(go env GOPROXY)):" >&2
    [ -n "$out" ] && echo "$out" >&2
    cat "$err" >&2
    echo "  hint: check network access to the proxy and the version pinned in tools/setup/versions.env" >&2
  fi
  rm -f "$err"
  [ -n "$own" ] && rm -rf "$own"
  [ -n "$value" ] && printf '%s\n' "$value"
}
