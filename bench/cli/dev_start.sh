#!/usr/bin/env bash
# How long `pgbase dev` takes until /health answers 200: the first start (initdb + system
# schemas + migrations), a second start reusing the cluster (target: < 5 s), and a start with
# --fresh. This is the speed check that crates/pgbase/tests/cli.rs does not make (a test
# asserts behaviour; a speed target belongs here).
#
#   cargo build --release -p pgbase && bench/cli/dev_start.sh [PGBASE_BIN] [RUNS]
#
# Needs curl. Prints one line per kind of start: min / median / max seconds over RUNS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/release/pgbase}
RUNS=${2:-3}
[[ -x $BIN ]] || { echo "no $BIN: cargo build --release -p pgbase" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed (apt-get install curl)" >&2; exit 1; }

PROJECT=$(mktemp -d /tmp/pgbase-bench-start.XXXXXX)
chmod 755 "$PROJECT"   # as root, Postgres runs as `postgres`, which must reach the data folder
mkdir -p "$PROJECT/migrations"
cp bench/rest/migrations/*.sql "$PROJECT/migrations/"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PID=
cleanup() {
  if [[ -n $PID ]]; then kill -INT "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$PROJECT"
}
trap cleanup EXIT

# Starts dev with the given extra arguments, prints the seconds until /health is 200, stops it.
one_start() {
  local t0=$EPOCHREALTIME
  RUST_LOG=warn "$BIN" dev --dir "$PROJECT" --port "$PORT" "$@" >/dev/null 2>&1 &
  PID=$!
  for _ in $(seq 1 1200); do
    kill -0 "$PID" 2>/dev/null || { echo "pgbase dev exited" >&2; exit 1; }
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health") == 200 ]] && break
    sleep 0.05
  done
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f\n", b - a }'
  kill -INT "$PID"; wait "$PID" || true; PID=
}

summary() {  # name target values...
  local name=$1 target=$2; shift 2
  printf '%s\n' "$@" | sort -n | awk -v name="$name" -v target="$target" '
    { v[NR] = $1 } END { printf "%-28s min %5.2f s  median %5.2f s  max %5.2f s  (target %s)\n",
      name, v[1], v[int((NR + 1) / 2)], v[NR], target }'
}

first=() second=() fresh=()
for _ in $(seq 1 "$RUNS"); do
  rm -rf "$PROJECT/.pgbase"
  first+=("$(one_start)")
  second+=("$(one_start)")
  fresh+=("$(one_start --fresh)")
done
summary "first start (initdb)" "-" "${first[@]}"
summary "second start (reuse)" "< 5 s" "${second[@]}"
summary "start with --fresh" "-" "${fresh[@]}"
