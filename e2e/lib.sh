# Shared body of the end-to-end runners (run.sh, saas.sh): sourced, never run on its own.
#
# The runner sets, before sourcing:
#   E2E_NAME        the prefix of log lines and temporary folders (e.g. "e2e", "saas")
#   E2E_MIGRATIONS  the migrations folder copied into the private project (relative to e2e/)
#   E2E_TESTS       an array: `node --test` flags and test files (relative to e2e/)
# and passes its own arguments on ("$@" of the runner: extra `node --test` arguments).
#
# PGBASE_BIN   the binary to test (default ../target/debug/pgbase; it is built only when it is
#              missing and PGBASE_BIN was not given)
# E2E_KEEP=1   keep the temporary project folder (server log, data) after the run
#
# Each run copies the migrations to a fresh temporary folder, starts `pgbase dev --fresh` there on
# a free port, waits for /health, reads the keys with `pgbase keys`, runs the node tests, and
# always stops the server; it then checks that no Postgres of that data folder is left (with
# pgrep, which is first checked to see the running one). curl, pgrep, node >= 20 and npm are
# required: a missing one fails the run at once. The exit code is the tests' exit code (or 1 when
# the server could not start or left Postgres running).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
E2E_DIR=$(pwd)

log() { printf '%s: %s\n' "$E2E_NAME" "$*" >&2; }

# --- binary ------------------------------------------------------------------------------------
if [[ -n "${PGBASE_BIN:-}" ]]; then
  BIN=$PGBASE_BIN
  [[ -x $BIN ]] || { log "PGBASE_BIN=$BIN is not an executable"; exit 1; }
else
  BIN=../target/debug/pgbase
  if [[ ! -x $BIN ]]; then
    log "$BIN is missing; building it (cargo build -p pgbase)"
    (cd .. && cargo build -p pgbase) || exit 1
  fi
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# --- tools -------------------------------------------------------------------------------------
# Each is needed: curl polls /health, pgrep finds a Postgres left behind (without it that check
# would pass blindly), node runs the tests.
missing=
command -v curl >/dev/null 2>&1 || missing+=" curl"
command -v pgrep >/dev/null 2>&1 || missing+=" pgrep(procps)"
command -v node >/dev/null 2>&1 || missing+=" node"
command -v npm >/dev/null 2>&1 || missing+=" npm"
[[ -z $missing ]] || { log "FAIL: missing tools:$missing (.ci/run installs them)"; exit 1; }
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if (( NODE_MAJOR < 20 )); then
  log "FAIL: Node.js >= 20 is needed (found $(node --version 2>/dev/null || echo '?'))"
  exit 1
fi

# --- node dependencies -------------------------------------------------------------------------
if [[ ! -d node_modules ]]; then
  log "installing node dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error || exit 1
fi

# --- a private copy of the app on a free port --------------------------------------------------
# Short path: Postgres puts its unix socket under DIR/.pgbase (107-byte limit).
WORK=$(mktemp -d "/tmp/pgbase-$E2E_NAME.XXXXXX")
chmod 755 "$WORK"   # as root, Postgres runs as `postgres`, which must reach the data folder
APP=$WORK/app
mkdir -p "$APP"
cp -R "$E2E_MIGRATIONS" "$APP/migrations"
DATA=$APP/.pgbase/db
SERVER_LOG=$WORK/server.log
PORT=$(node -e '
  const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')

SERVER_PID=
NODE_PID=
RC=1

# Prints the pids of postgres processes started on this run's data folder. Exit status 0 (some
# or none found) or 2: pgrep itself failed, so nothing is known.
postgres_left() {
  local pids status=0
  pids=$(pgrep -f -- "-D $DATA/") || status=$?
  case $status in
    0) printf '%s\n' "$pids" ;;
    1) ;;   # none
    *) log "pgrep failed (exit $status)"; return 2 ;;
  esac
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [[ $RC -eq 1 && $status -ne 0 ]] && RC=$status
  if [[ -n $NODE_PID ]] && kill -0 "$NODE_PID" 2>/dev/null; then
    kill -TERM "$NODE_PID" 2>/dev/null
    wait "$NODE_PID" 2>/dev/null
  fi
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 150); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      log "pgbase (pid $SERVER_PID) did not stop within 15 s of SIGTERM; killing it"
      kill -KILL "$SERVER_PID" 2>/dev/null
      RC=1
    fi
    wait "$SERVER_PID" 2>/dev/null
  fi
  # Postgres must be gone with the server (give the postmaster a moment to finish its shutdown).
  local left= probe=0
  for _ in $(seq 1 100); do
    probe=0
    left=$(postgres_left) || probe=$?
    [[ $probe -eq 0 && -z $left ]] && break
    sleep 0.1
  done
  if [[ $probe -ne 0 ]]; then
    log "FAIL: cannot tell whether postgres processes of $DATA are left (pgrep failed)"
    RC=1
  elif [[ -n $left ]]; then
    log "FAIL: postgres processes of $DATA are still running after pgbase stopped: $(echo $left)"
    # stop the postmaster we caused, by the pid in its own pid file
    if [[ -f $DATA/pgdata/postmaster.pid ]]; then
      kill -TERM "$(head -1 "$DATA/pgdata/postmaster.pid")" 2>/dev/null
    fi
    RC=1
  fi
  if [[ $RC -ne 0 ]]; then
    log "server log (last 40 lines of $SERVER_LOG):"
    tail -n 40 "$SERVER_LOG" >&2 2>/dev/null
  fi
  if [[ -n ${E2E_KEEP:-} ]]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$RC"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

START=$EPOCHREALTIME
elapsed() { awk -v a="$START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
log "starting $BIN dev --dir $APP --fresh --port $PORT"
"$BIN" dev --dir "$APP" --fresh --port "$PORT" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

URL=http://127.0.0.1:$PORT
ready=
for _ in $(seq 1 600); do   # up to 60 s
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "pgbase dev exited before it was ready"
    exit 1
  fi
  if [[ $(curl -s -o /dev/null -w '%{http_code}' "$URL/health" 2>/dev/null) == 200 ]]; then
    ready=1
    break
  fi
  sleep 0.1
done
[[ -n $ready ]] || { log "/health did not answer 200 within 60 s"; exit 1; }
log "server ready on $URL after $(elapsed) s"
# The "no Postgres left behind" check below must be able to fail: it has to see the postmaster
# that is running now.
if ! running=$(postgres_left) || [[ -z $running ]]; then
  log "FAIL: pgrep does not see the running postmaster of $DATA, so the leftover check would be blind"
  exit 1
fi

KEYS=$("$BIN" keys --dir "$APP") || { log "pgbase keys failed"; exit 1; }
ANON_KEY=$(awk '/^anon key:/ { print $NF }' <<<"$KEYS")
SERVICE_KEY=$(awk '/^service_role key:/ { print $NF }' <<<"$KEYS")
[[ -n $ANON_KEY && -n $SERVICE_KEY ]] || { log "cannot read the keys from: $KEYS"; exit 1; }

# In the background + wait, so that a signal to this script runs the cleanup at once.
PGBASE_URL=$URL PGBASE_ANON_KEY=$ANON_KEY PGBASE_SERVICE_KEY=$SERVICE_KEY PGBASE_DIR=$APP \
  PGBASE_E2E_DIR=$APP PGBASE_BIN=$BIN \
  node --test "$@" "${E2E_TESTS[@]}" &
NODE_PID=$!
wait "$NODE_PID"
RC=$?
NODE_PID=
log "tests finished with exit code $RC after $(elapsed) s"
exit "$RC"
