#!/usr/bin/env bash
# Install the real services the tests start (redis-server, promtool/prometheus), and wrk for
# bench/agent/run.py, from Debian packages when they are missing. Clear message when that is impossible.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v promtool >/dev/null || need+=(prometheus)
command -v wrk >/dev/null || need+=(wrk)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "setup: missing ${need[*]}; install them with your package manager (Debian: apt-get install ${need[*]})" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup: installing Debian packages: ${need[*]}"
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null; }; then
  echo "setup: could not install ${need[*]} with apt-get; install them by hand and re-run" >&2
  exit 1
fi
# The Debian prometheus package starts a system service; the tests run their own instances.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus prometheus-node-exporter redis-server >/dev/null 2>&1 || true
fi
