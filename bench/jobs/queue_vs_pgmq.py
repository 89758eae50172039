#!/usr/bin/env python3
"""Queue benchmark (issue 6): pgbase's pgmq schema beside upstream pgmq's own SQL, in the same
run on the same Postgres, with pgbench.

Upstream's SQL comes from the `pgmq` crate on crates.io, which embeds the extension's install
script (src/install/embedded/sql/pgmq.sql, installable without the extension); it is fetched
into cargo's cache at run time and installed into a separate database. Nothing of it is
committed here.

Measures, at 1 and 8 clients for --seconds each (in the order ours, upstream, upstream, ours): send+read+delete transactions/s (one message
per transaction) on both, like for like — without NOTIFY (`pgmq.disable_notify_insert`,
upstream's default), then notifying on every send (pgbase's default; upstream's
`enable_notify_insert(queue, 0)`) — and send_batch of 1,000 messages (messages/s). Prints the
ratios.
Targets: queue >= 1.0x upstream; send_batch >= 50k messages/s.

Usage: bench/jobs/queue_vs_pgmq.py [--bin target/release/pgbase] [--seconds 10]
"""
import argparse, glob, os, subprocess, sys, tarfile, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from lib import DEFAULT_BIN, DevServer, ensure_tools, pgbench, result  # noqa: E402

PGMQ_CRATE = "pgmq@0.34.0-alpha.7"

SEND_READ_DELETE = """select pgmq.send('bench', '{"n": 1}'::jsonb);
select pgmq.delete('bench', m.msg_id) from pgmq.read('bench', 30, 1) m;
"""
SEND_BATCH = """select count(*) from pgmq.send_batch('bench', (select array_agg('{"n": 1}'::jsonb) from generate_series(1, 1000)));
"""


def upstream_sql():
    subprocess.run(["cargo", "info", PGMQ_CRATE], capture_output=True, cwd=tempfile.gettempdir())
    version = PGMQ_CRATE.split("@")[1]
    crates = glob.glob(os.path.expanduser(f"~/.cargo/registry/cache/*/pgmq-{version}.crate"))
    if not crates:
        sys.exit(f"could not fetch {PGMQ_CRATE} from crates.io")
    with tarfile.open(crates[0]) as tar:
        member = tar.getmember(f"pgmq-{version}/src/install/embedded/sql/pgmq.sql")
        return tar.extractfile(member).read().decode()


def psql(url, sql):
    out = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"psql failed: {out.stderr}")


def abba(ours, theirs, script, clients, seconds):
    """Both sides' rates, measured in the order ours, theirs, theirs, ours (half the time each)
    so that drift within the run (autovacuum, caches) does not favour either side."""
    half = max(1, seconds // 2)
    a1, b1 = pgbench(ours, script, clients, half), pgbench(theirs, script, clients, half)
    b2, a2 = pgbench(theirs, script, clients, half), pgbench(ours, script, clients, half)
    return (a1 + a2) / 2, (b1 + b2) / 2


def measure(bin, seconds, log=print):
    """Both queues in one Postgres; returns lib.result rows."""
    rows = []
    upstream = upstream_sql()
    with DevServer(bin, prefix="pgbase-queuebench-") as server:
        ours, project = server.db_url, server.project
        theirs = ours.rsplit("/", 1)[0] + "/upstream_pgmq"
        psql(ours, "create database upstream_pgmq")
        sql_file = os.path.join(project, "pgmq.sql")
        with open(sql_file, "w") as f:
            f.write(upstream)
        out = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", theirs, "-f", sql_file], capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"installing upstream pgmq failed: {out.stderr[-2000:]}")
        for url in (ours, theirs):
            psql(url, "select pgmq.create('bench')")
        for url in (ours, theirs):  # warm up both (caches, first pages of the fresh queue tables)
            pgbench(url, SEND_READ_DELETE, 1, 2)
        log(f"{'workload':36} {'clients':>7} {'pgbase':>10} {'upstream':>10} {'ratio':>6}")
        # Like for like: both without NOTIFY (upstream's default), then both notifying on every
        # send (pgbase's default; upstream's enable_notify_insert(queue, 0) trigger).
        for notify in (False, True):
            if notify:
                psql(ours, "select pgmq.enable_notify_insert('bench')")
                psql(theirs, "select pgmq.enable_notify_insert('bench', 0)")
            else:
                psql(ours, "select pgmq.disable_notify_insert('bench')")
            label = "send+read+delete, notify " + ("on" if notify else "off")
            for clients in (1, 8):
                a, b = abba(ours, theirs, SEND_READ_DELETE, clients, seconds)
                log(f"{label:36} {clients:7d} {a:10.0f} {b:10.0f} {a / b:6.2f}")
                rows.append(result(f"queue {label} {clients}c vs pgmq", a, b, 1.0, unit="tx/s"))
        psql(ours, "select pgmq.disable_notify_insert('bench')")
        psql(theirs, "select pgmq.disable_notify_insert('bench')")
        for clients in (1, 8):
            a, b = (rate * 1000 for rate in abba(ours, theirs, SEND_BATCH, clients, seconds))
            log(f"{'send_batch 1000 (msg/s), notify off':36} {clients:7d} {a:10.0f} {b:10.0f} {a / b:6.2f}")
            rows.append(result(f"queue send_batch 1000 {clients}c vs pgmq", a, b, 1.0, unit="msg/s"))
            rows.append(result(f"queue send_batch 1000 {clients}c msg/s", a, None, 50000, unit="msg/s"))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    ensure_tools("pgbench", "psql")
    measure(args.bin, args.seconds, lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
