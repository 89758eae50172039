#!/usr/bin/env bash
# Net and cron workers (issue 6), release build, against a throwaway test cluster:
# - net: requests/s from SQL (`net.http_get`, 5,000 enqueued in one transaction) to a local
#   HTTP server, target >= 2,000/s; commit-to-request latency p50/p99 over 200 single requests.
# - cron: start lag (start_time minus the tick second) p50/p99 of the 50 second-level jobs among
#   1,000 scheduled jobs over 12 s, target p99 < 100 ms.
# The workers are the ones `pgbase serve` runs (pgbase_jobs::net::run / cron::run).
#
# Usage: bench/jobs/net_cron.sh [net|cron]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo run --quiet --release -p pgbase-jobs --example jobs_bench -- "${1:-all}"
