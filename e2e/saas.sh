#!/usr/bin/env bash
# End-to-end test of the SaaS example (examples/saas): supabase-js, GraphQL over fetch and
# `pgbase sql` against the built pgbase binary running `pgbase dev` on a copy of the example,
# including the dev mail sink, the cron jobs, pgmq and the net worker (see lib.sh for what a run
# does and its options). One file at a time: the files share the mail sink, its failure switch
# and the digest queue.
#
#   cargo build -p pgbase && e2e/saas.sh [extra `node --test` arguments]
cd "$(dirname "$0")" || exit 1
E2E_NAME=saas
E2E_MIGRATIONS=../examples/saas/migrations
E2E_TESTS=(--test-concurrency=1 saas/*.test.mjs)
source ./lib.sh
