#!/usr/bin/env bash
# Start the agent on localhost:$PORT for development (`make run`).
# Uses $REDIS_URL when set; otherwise starts a throw-away redis-server on a free port and
# stops it when the agent exits (Ctrl-C / SIGTERM). Prints a curl session to try.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
export PORT="${PORT:-8000}"
export HOST="${HOST:-127.0.0.1}"
export AGENT_API_KEYS="${AGENT_API_KEYS:-dev-key-change-me}"
export LOG_LEVEL="${LOG_LEVEL:-INFO}"

if [[ ! -x "$PY" ]]; then
  echo "run-local: $PY not found; run \`make setup\` first" >&2
  exit 1
fi

redis_pid=""
metrics_dir="$(mktemp -d "${TMPDIR:-/tmp}/agent-metrics.XXXXXX")"
export PROMETHEUS_MULTIPROC_DIR="$metrics_dir"

cleanup() {
  if [[ -n "$redis_pid" ]] && kill -0 "$redis_pid" 2>/dev/null; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$metrics_dir" "${redis_dir:-}"
}
trap cleanup EXIT

if [[ -z "${REDIS_URL:-}" ]]; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "run-local: redis-server is not installed and REDIS_URL is not set;" \
         "run \`make setup\` (installs it) or export REDIS_URL=redis://host:6379/0" >&2
    exit 1
  fi
  redis_port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  redis_dir="$(mktemp -d "${TMPDIR:-/tmp}/agent-redis.XXXXXX")"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$redis_dir" --daemonize no --loglevel warning &
  redis_pid=$!
  for _ in $(seq 1 50); do
    if "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1',$redis_port),0.2)" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  export REDIS_URL="redis://127.0.0.1:$redis_port/0"
  echo "run-local: started redis-server on $REDIS_URL (stopped on exit)" >&2
fi

cat >&2 <<INFO
run-local: agent on http://$HOST:$PORT (API key: $AGENT_API_KEYS). Try:
  curl -s localhost:$PORT/readyz
  SID=\$(curl -s -X POST -H 'Authorization: Bearer ${AGENT_API_KEYS%%,*}' localhost:$PORT/v1/sessions | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -s -H 'Authorization: Bearer ${AGENT_API_KEYS%%,*}' -H 'Content-Type: application/json' -d '{"content": "what is 6 * 7?"}' localhost:$PORT/v1/sessions/\$SID/messages
INFO

# gunicorn runs in the foreground (not exec) so the trap can stop redis afterwards;
# SIGTERM/SIGINT to this script are forwarded to gunicorn for a graceful stop.
"$PY" -m gunicorn -c python:agent.gunicorn_config agent.wsgi:app &
gunicorn_pid=$!
trap 'kill -TERM "$gunicorn_pid" 2>/dev/null || true' TERM INT
# `wait` returns early (128+n) when a trapped signal arrives: wait again for gunicorn's status.
status=0
wait "$gunicorn_pid" || status=$?
while kill -0 "$gunicorn_pid" 2>/dev/null; do
  status=0
  wait "$gunicorn_pid" || status=$?
done
exit "$status"
