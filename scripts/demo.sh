#!/usr/bin/env bash
# `make demo`: the querysight server and the bookshop demo (Django, with the agent), side by side.
#
# Migrates and seeds the bookshop, starts `querysight serve` and `manage.py runserver` with QUERYSIGHT_URL pointing at
# it, waits until both answer, sends a little traffic so the report is not empty, prints both addresses, and stops
# both on Ctrl-C. Expects `make install build` to have run (the Makefile's `demo` target does that first).
#
# Environment:
#   QUERYSIGHT_PORT  port of the querysight server (default 8321)
#   DEMO_PORT        port of the bookshop (default 8000)
#   DEMO_SMOKE=1     run the same on free ports with throwaway databases, check over HTTP that the server holds units
#                    with an N+1 and with a duplicate, stop both, and exit 0 (non-zero, saying why, otherwise)
#   DEMO_TIMEOUT     seconds to wait for each server to answer and for the findings to arrive (default 60)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
BOOKSHOP="$ROOT/python-agent/examples/bookshop"
SMOKE="${DEMO_SMOKE:-0}"
TIMEOUT="${DEMO_TIMEOUT:-60}"

if [[ -t 1 ]]; then BOLD=$'\033[1m' RED=$'\033[1;31m' PLAIN=$'\033[0m'; else BOLD="" RED="" PLAIN=""; fi
say() { printf '%sdemo:%s %s\n' "$BOLD" "$PLAIN" "$*"; }
fail() {
  printf '%sdemo: %s%s\n' "$RED" "$*" "$PLAIN" >&2
  exit 1
}

[[ -x "$PY" ]] || fail "$PY is missing; run \`make install\` (or \`make demo\`, which installs what is missing)"
[[ -f "$ROOT/dist/cli.js" ]] || fail "dist/cli.js is missing; run \`make build\` (or \`make demo\`, which builds it)"

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# As the servers bind (SO_REUSEADDR): a port left in TIME_WAIT by the last run counts as free, a listener does not.
port_is_free() {
  "$PY" -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()' "$1" 2>/dev/null
}

if [[ "$SMOKE" == "1" ]]; then
  # Free ports and throwaway databases: the smoke run can go on while a developer's demo is up.
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/querysight-demo.XXXXXX")"
  QS_PORT="$(free_port)"
  APP_PORT="$(free_port)"
  while [[ "$APP_PORT" == "$QS_PORT" ]]; do APP_PORT="$(free_port)"; done
  QS_DB="$WORK/querysight.db"
  export BOOKSHOP_DB="$WORK/bookshop.sqlite3"
  QS_LOG="$WORK/querysight.log"
  APP_LOG="$WORK/bookshop.log"
else
  WORK=""
  QS_PORT="${QUERYSIGHT_PORT:-8321}"
  APP_PORT="${DEMO_PORT:-8000}"
  # The report keeps its history between runs, in a folder git ignores.
  mkdir -p "$ROOT/.querysight"
  [[ -f "$ROOT/.querysight/.gitignore" ]] || printf '*\n' >"$ROOT/.querysight/.gitignore"
  QS_DB="$ROOT/.querysight/demo.db"
  QS_LOG=/dev/stdout
  APP_LOG=/dev/stdout
  port_is_free "$QS_PORT" || fail "port $QS_PORT is in use (another querysight?); stop it or run QUERYSIGHT_PORT=<other> make demo"
  port_is_free "$APP_PORT" || fail "port $APP_PORT is in use; stop what runs there or run DEMO_PORT=<other> make demo"
fi
QS_URL="http://127.0.0.1:$QS_PORT"
APP_URL="http://127.0.0.1:$APP_PORT"

QS_PID=""
APP_PID=""

# Stops one process: TERM, then up to 10 s for it to go, then KILL.
stop() {
  local pid="$1" name="$2"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name did not stop within 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop "$APP_PID" "the bookshop"
  stop "$QS_PID" "the querysight server"
  if [[ -n "$WORK" ]]; then
    if [[ "$status" != 0 ]]; then
      say "logs of the failed run:"
      for log in "$QS_LOG" "$APP_LOG"; do [[ -f "$log" ]] && sed "s|^|  $(basename "$log"): |" "$log" | tail -40; done
    fi
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'say "stopping"; exit 0' INT TERM

# Polls URL until it answers (any HTTP status) while PID lives, for at most TIMEOUT seconds.
wait_for() {
  local name="$1" url="$2" pid="$3"
  "$PY" - "$name" "$url" "$pid" "$TIMEOUT" <<'PY' || fail "could not start $name"
import os, sys, time, urllib.error, urllib.request

name, url, pid, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"demo: {name} exited before answering at {url}")
    try:
        urllib.request.urlopen(url, timeout=2).close()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(f"demo: {name} did not answer at {url} within {timeout:.0f} s")
PY
}

say "migrating and seeding the bookshop${BOOKSHOP_DB:+ ($BOOKSHOP_DB)}"
(cd "$BOOKSHOP" && "$PY" manage.py migrate --noinput -v 0 && "$PY" manage.py seed)

say "starting the querysight server on $QS_URL"
node "$ROOT/dist/cli.js" serve --port "$QS_PORT" --db "$QS_DB" >>"$QS_LOG" 2>&1 &
QS_PID=$!
wait_for "the querysight server" "$QS_URL/api/v1/health" "$QS_PID"

say "starting the bookshop on $APP_URL"
(cd "$BOOKSHOP" && QUERYSIGHT_URL="$QS_URL" exec "$PY" manage.py runserver "127.0.0.1:$APP_PORT" --noreload) \
  >>"$APP_LOG" 2>&1 &
APP_PID=$!
wait_for "the bookshop" "$APP_URL/" "$APP_PID"

say "sending a little traffic: every scenario, broken then fixed"
if [[ "$SMOKE" == "1" ]]; then
  "$PY" "$BOOKSHOP/demo_traffic.py" --url "$APP_URL"
else
  # The bookshop's console already shows each request with querysight's one-line summary.
  "$PY" "$BOOKSHOP/demo_traffic.py" --url "$APP_URL" --quiet
fi

if [[ "$SMOKE" == "1" ]]; then
  say "checking that the server holds units with an N+1 and a duplicate"
  "$PY" "$ROOT/scripts/demo_check.py" --server "$QS_URL" --timeout "$TIMEOUT"
  say "DEMO_SMOKE passed"
  exit 0
fi

cat <<EOF

  querysight report   $QS_URL/
  bookshop demo       $APP_URL/   (every page has a fixed twin: add ?fixed=1)

  Press Ctrl-C to stop both.

EOF

# Runs until Ctrl-C, or until one of the two stops by itself (then the other is stopped too).
# (`wait` on a short sleep, not the sleep itself: a trapped Ctrl-C interrupts `wait` at once.)
while kill -0 "$QS_PID" 2>/dev/null && kill -0 "$APP_PID" 2>/dev/null; do
  sleep 1 &
  wait $! || true
done
kill -0 "$QS_PID" 2>/dev/null || fail "the querysight server stopped; stopping the bookshop"
fail "the bookshop stopped; stopping the querysight server"
