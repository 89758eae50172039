#!/usr/bin/env python3
"""Whole-process benchmarks (issue 16), on the REST bench schema plus 500 more tables joined by
1,000 foreign keys, served by `pgbase serve` processes against a `pgbase dev` database:

- start-up: process start to `/health` 200 with the schema cache loaded (all 500+ tables),
  target < 300 ms; schema-cache reload after one DDL (commit to `/health` showing the new
  cache version: the 5 ms notification debounce, the catalog query — in two halves at once
  on two connections — parsing, derivation, and the /health probe), target < 100 ms; seven
  DDLs, the median counts (the machine is shared and noisy). REST plans against the new cache
  at once; GraphQL reflects its schema per role on the first request after a reload (that
  request waits for it: ~25-55 ms on this schema), which this figure does not include;
- memory: RSS idle on the REST bench's own schema (< 30 MB), then with the 500 tables loaded
  (reported; the issue names no number for it), peak RSS under 64 clients (< 100 MB);
- scale-out: two processes on one database (32 clients each) beside one (64 clients), GET by
  PK; the pair shares nothing but Postgres, so on 2 cores it should lose nothing (>= 0.9x).

Usage: bench/system/run.py [--bin target/release/pgbase] [--seconds 10]
Needs wrk and psql on PATH.
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from lib import DEFAULT_BIN, DevServer, ensure_tools, free_port, psql, result, rss_mb, wrk  # noqa: E402

TABLES, TOKEN, SECRET = 500, "bench-ops-token", "bench-secret-bench-secret-bench-secret-0123"
GET_BY_PK = "/rest/v1/films?id=eq.4242"


def wide_schema():
    """500 tables, each with two foreign keys to the next two (wrapping): 1,000 in all."""
    lines = ["create schema if not exists public;"]
    lines += [f"create table wide_{i} (id int primary key, a_id int, b_id int, label text);" for i in range(TABLES)]
    for i in range(TABLES):
        lines.append(f"alter table wide_{i} add foreign key (a_id) references wide_{(i + 1) % TABLES}(id), "
                     f"add foreign key (b_id) references wide_{(i + 2) % TABLES}(id);")
    return "\n".join(lines) + "\n"


def health(url):
    req = urllib.request.Request(f"{url}/health", headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.load(r)
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


class Serve:
    """`pgbase serve` on the dev database; `started_ms` is process start to /health 200 with
    the schema cache loaded (at least `TABLES` tables)."""

    def __init__(self, bin, db_url, min_tables=TABLES, jobs=False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": db_url, "PGBASE_JWT_SECRET": SECRET, "PGBASE_PORT": str(self.port),
               "PGBASE_LISTEN": "127.0.0.1", "PGBASE_METRICS_TOKEN": TOKEN, "PGBASE_JOBS": str(jobs).lower(), "RUST_LOG": "warn"}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = t0 + 30
        while time.perf_counter() < deadline:
            h = health(self.url)
            if h and h.get("status") == "ok" and h.get("schema_cache", {}).get("tables", 0) >= min_tables:
                self.started_ms = (time.perf_counter() - t0) * 1000
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.002)
        self.stop()
        sys.exit("pgbase serve did not become healthy")

    def cache_version(self):
        return (health(self.url) or {}).get("schema_cache", {}).get("version")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def peak_rss_during(pid, fn):
    """Runs fn() while sampling the RSS of `pid` every 50 ms; returns (fn's value, peak MB)."""
    peak, done = [rss_mb(pid)], threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mb(pid))
    t = threading.Thread(target=sample)
    t.start()
    try:
        value = fn()
    finally:
        done.set()
        t.join()
    return value, peak[0]


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def measure(bin, seconds, log=print):
    rows = []
    migrations = tempfile.mkdtemp(prefix="pgbase-sysbench-migrations-")
    try:
        shutil.copy(os.path.join(ROOT, "bench/rest/migrations/001_films.sql"), migrations)
        with DevServer(bin, migrations, prefix="pgbase-sysbench-") as dev:
            # idle memory of a process serving an application-sized schema (one table), with
            # its cron and net workers running as `serve` runs them by default
            small = Serve(bin, dev.db_url, min_tables=1, jobs=True)
            time.sleep(1)
            idle_small = rss_mb(small.proc.pid)
            small.stop()
            log(f"RSS idle with the REST bench schema: {idle_small:.1f} MB")
            rows.append(result("RSS idle (REST bench schema)", idle_small, None, 30, "<", "MB"))
            psql(dev.db_url, wide_schema())
            # start-up, three times (the first also warms the OS caches)
            starts = []
            for _ in range(3):
                s = Serve(bin, dev.db_url)
                starts.append(s.started_ms)
                s.stop()
            log(f"start-up to /health 200 with {TABLES}+ tables cached: " + ", ".join(f"{ms:.0f}" for ms in starts) + " ms")
            rows.append(result(f"start-up to /health ({TABLES} tables, 1000 FKs)", median(starts), None, 300, "<", "ms"))

            one = Serve(bin, dev.db_url)
            try:
                reloads = []
                for i in range(7):
                    before = one.cache_version()
                    psql(dev.db_url, f"alter table wide_{i} add column extra_{i} int;")
                    t0 = time.perf_counter()
                    while one.cache_version() == before and time.perf_counter() - t0 < 10:
                        time.sleep(0.001)
                    reloads.append((time.perf_counter() - t0) * 1000)
                log("schema-cache reload after one DDL: " + ", ".join(f"{ms:.0f}" for ms in reloads) + " ms")
                rows.append(result("schema-cache reload after one DDL", median(reloads), None, 100, "<", "ms"))

                time.sleep(1)
                idle = rss_mb(one.proc.pid)
                log(f"RSS idle with the schema loaded: {idle:.1f} MB")
                rows.append(result(f"RSS idle ({TABLES}-table schema)", idle, None, None, "<", "MB"))
                (single, _, _), peak = peak_rss_during(one.proc.pid, lambda: wrk(f"{one.url}{GET_BY_PK}", 64, seconds))
                log(f"RSS peak under 64 clients: {peak:.1f} MB; one process {single:.0f} req/s")
                rows.append(result(f"RSS under 64 clients ({TABLES}-table schema)", peak, None, 100, "<", "MB"))

                two = Serve(bin, dev.db_url)
                try:
                    rates = [0, 0]

                    def load(i, server):
                        rates[i] = wrk(f"{server.url}{GET_BY_PK}", 32, seconds)[0]
                    threads = [threading.Thread(target=load, args=(i, s)) for i, s in enumerate((one, two))]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                finally:
                    two.stop()
                log(f"scale-out: two processes {rates[0]:.0f} + {rates[1]:.0f} req/s vs one {single:.0f} req/s")
                rows.append(result("scale-out: 2 processes (2x32c) vs 1 (64c)", sum(rates), single, 0.9))
            finally:
                one.stop()
    finally:
        shutil.rmtree(migrations, ignore_errors=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    ensure_tools("wrk", "psql")
    measure(args.bin, args.seconds, lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
