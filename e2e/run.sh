#!/usr/bin/env bash
# End-to-end tests: real clients (supabase-js, graphql, the MCP SDK) against the built pgbase
# binary running `pgbase dev` on a copy of app/ (see lib.sh for what a run does and its options).
#
#   cargo build -p pgbase && e2e/run.sh [extra `node --test` arguments]
cd "$(dirname "$0")" || exit 1
E2E_NAME=e2e
E2E_MIGRATIONS=app/migrations
E2E_TESTS=(test/*.test.mjs)
source ./lib.sh
