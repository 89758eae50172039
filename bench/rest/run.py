#!/usr/bin/env python3
"""REST benchmark: pgbase beside pgbench running the identical SQL, in the same run.

Scenarios (issue 3): (a) GET one row by primary key, (b) GET 20 rows with a many-to-one and a
one-to-many embed, (c) POST a 100-row bulk insert. For each, at 1, 16 and 64 clients:
requests/s and p50/p99 latency from wrk against pgbase, and transactions/s from pgbench
(-M prepared) running the statements pgbase sent (captured from Postgres' statement log:
the same BEGIN, set_config prelude and main statement, parameters inlined). Prints the ratio
pgbase/pgbench and the server's RSS after the run; (a) also beside pgbench running only the bare
SELECT (issue 16's physical limit). Targets: (a) >= 0.85 (bare: >= 0.3), (b) >= 0.6, RSS < 100 MB.

Usage: bench/rest/run.py [--bin target/release/pgbase] [--seconds 10] [--clients 1,16,64]
Needs wrk and pgbench on PATH (apt-get install wrk postgresql-client).
"""
import argparse, json, os, re, subprocess, sys, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from lib import DEFAULT_BIN, DevServer, ensure_tools, pgbench, result, wrk  # noqa: E402


def sql(bin, project, query):
    out = subprocess.run([bin, "sql", "--dir", project, query], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"pgbase sql failed: {out.stderr}")
    return out.stdout


BULK = json.dumps([{"kind": "bench", "payload": {"n": i}} for i in range(100)])
SCENARIOS = {
    "a_get_by_pk": ("GET", "/rest/v1/films?id=eq.4242", None),
    "b_get_20_embeds": ("GET", "/rest/v1/films?select=id,title,directors(name),roles(character)&year=gte.1990&order=id&limit=20", None),
    "c_post_100_rows": ("POST", "/rest/v1/events", BULK),
}


def capture_statements(log_path, offset):
    """Statements of the last request from the Postgres log (after `offset` bytes), with their
    parameters inlined as the literals Postgres logged."""
    with open(log_path, errors="replace") as f:
        f.seek(offset)
        lines = f.read().splitlines()
    statements = []
    start = re.compile(r"\[(\d+)\] LOG:  (?:statement|execute [^:]+): (.*)$")
    detail = re.compile(r"\[(\d+)\] DETAIL:  parameters: (.*)$")
    pid = None  # the backend that served the request: the one that began its transaction
    current = None
    for line in lines:
        if line[:1].isspace():
            if current == pid and statements:
                statements[-1] += "\n" + line
            continue
        m = start.search(line) or detail.search(line)
        current = m.group(1) if m else None
        if m is None:
            continue
        if pid is None and m.re is start and m.group(2).startswith("start transaction"):
            pid = current
        if current != pid:
            continue
        if m.re is start:
            statements.append(m.group(2))
        elif statements:
            values = dict(re.findall(r"(\$\d+) = ('(?:[^']|'')*'|NULL)", m.group(2)))
            stmt = statements[-1]
            for name in sorted(values, key=lambda k: -int(k[1:])):
                stmt = stmt.replace(name, values[name])
            statements[-1] = stmt
    return statements


def bare(statements):
    """The request's own statement alone: no BEGIN, prelude or COMMIT."""
    return [st for st in statements if not re.match(r"(start transaction|commit|rollback|select set_config\('search_path')", st)]


TARGETS = {"a_get_by_pk": 0.85, "b_get_20_embeds": 0.6, "c_post_100_rows": None}
BARE_TARGET = 0.3


def measure(bin, seconds, clients, log=print):
    """Runs every scenario at every client count; returns the table rows (lib.result): pgbase
    beside pgbench on the identical SQL, and GET by PK beside pgbench on the bare SELECT."""
    rows = []
    with DevServer(bin, os.path.join(HERE, "migrations")) as server:
        project = server.project
        log_path = os.path.join(project, ".pgbase/db/postgres.log")
        sql(bin, project, "alter system set log_statement = 'all'")
        sql(bin, project, "select pg_reload_conf()")
        time.sleep(0.5)
        captured = {}
        for name, (method, path, body) in SCENARIOS.items():
            offset = os.path.getsize(log_path)
            req = urllib.request.Request(f"{server.url}{path}", method=method,
                                         data=body.encode() if body else None,
                                         headers={"Content-Type": "application/json", "Prefer": "return=minimal"})
            urllib.request.urlopen(req).read()
            time.sleep(0.3)
            captured[name] = [" ".join(st.split()) + ";" for st in capture_statements(log_path, offset)]
        sql(bin, project, "alter system reset log_statement")
        sql(bin, project, "select pg_reload_conf()")
        log(f"{'scenario':18} {'clients':>7} {'pgbase rps':>11} {'p50 ms':>7} {'p99 ms':>7} {'pgbench tps':>12} {'ratio':>6}")
        for name, (method, path, body) in SCENARIOS.items():
            headers = [("Content-Type", "application/json"), ("Prefer", "return=minimal")] if body else []
            for c in clients:
                rps, p50, p99 = wrk(f"{server.url}{path}", c, seconds, method, body, headers)
                tps = pgbench(server.db_url, "\n".join(captured[name]) + "\n", c, seconds)
                log(f"{name:18} {c:7d} {rps:11.0f} {p50:7.2f} {p99:7.2f} {tps:12.0f} {rps / tps:6.2f}")
                rows.append(result(f"rest {name} {c}c vs identical SQL", rps, tps, TARGETS[name]))
                if name == "a_get_by_pk":
                    bare_tps = pgbench(server.db_url, "\n".join(bare(captured[name])) + "\n", c, seconds)
                    log(f"{'  bare SELECT':18} {c:7d} {'':11} {'':7} {'':7} {bare_tps:12.0f} {rps / bare_tps:6.2f}")
                    rows.append(result(f"rest {name} {c}c vs bare SELECT", rps, bare_tps, BARE_TARGET))
        rss = server.rss_mb()
        log(f"server RSS after the run: {rss} MB (target < 100 MB)")
        rows.append(result("rest RSS after the run", rss, None, 100, "<", "MB"))
        log("statements per request (from the Postgres log):")
        for name, stmts in captured.items():
            log(f"  {name}: " + " | ".join(st[:60] for st in stmts))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", default="1,16,64")
    args = ap.parse_args()
    ensure_tools("wrk", "pgbench")
    measure(args.bin, args.seconds, [int(c) for c in args.clients.split(",")], lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
