#!/usr/bin/env bash
# MCP figures: p50/p90 latency of a one-row `query` over stdio (target p50 < 5 ms) and the size of
# `describe` on a 50-table schema (target < 40 KB). Starts `pgbase dev` on a fresh project with a
# 50-table migration, drives `pgbase mcp --dir` with the official TypeScript MCP client (from
# e2e/node_modules: run `npm ci` in e2e first), prints one table, stops the server.
#
#   bench/mcp/run.sh            # PGBASE_BIN defaults to target/release/pgbase, else target/debug/pgbase
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${PGBASE_BIN:-}
if [[ -z $BIN ]]; then
  BIN=$ROOT/target/release/pgbase
  [[ -x $BIN ]] || BIN=$ROOT/target/debug/pgbase
fi
[[ -x $BIN ]] || { echo "no pgbase binary at $BIN (cargo build -p pgbase)" >&2; exit 1; }
[[ -d $ROOT/e2e/node_modules/@modelcontextprotocol/sdk ]] || { echo "run npm ci in e2e/ first" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pgbase-mcp-bench.XXXXXX)
chmod 755 "$WORK"
APP=$WORK/app
mkdir -p "$APP/migrations"
{
  for i in $(seq -w 0 49); do
    parent=
    [[ $i != 00 ]] && parent=" references public.t$(printf '%02d' $((10#$i - 1)))(id)"
    cat <<SQL
create table public.t$i (
  id bigint generated always as identity primary key,
  owner_id uuid not null references auth.users(id),
  parent_id bigint$parent,
  name text not null,
  status text not null default 'open',
  created_at timestamptz not null default now()
);
create index on public.t$i (owner_id);
alter table public.t$i enable row level security;
create policy owner_all on public.t$i for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
SQL
  done
} >"$APP/migrations/20260101000000_fifty_tables.sql"

PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});')
"$BIN" dev --dir "$APP" --fresh --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
cleanup() {
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health") == 200 ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done
PGBASE_BIN=$BIN PGBASE_E2E_DIR=$APP node "$ROOT/bench/mcp/measure.mjs"
