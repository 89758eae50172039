#!/usr/bin/env python3
"""REST benchmark: pgbase beside pgbench running the identical SQL, in the same run.

Scenarios (issue 3): (a) GET one row by primary key, (b) GET 20 rows with a many-to-one and a
one-to-many embed, (c) POST a 100-row bulk insert. For each, at 1, 16 and 64 clients:
requests/s and p50/p99 latency from wrk against pgbase, and transactions/s from pgbench
(-M prepared) running the statements pgbase sent (captured from Postgres' statement log:
the same BEGIN, set_config prelude and main statement, parameters inlined). Prints the ratio
pgbase/pgbench and the server's RSS after the run. Targets: (a) >= 0.7, (b) >= 0.6, RSS < 100 MB.

Usage: bench/rest/run.py [--bin target/release/pgbase] [--seconds 10] [--clients 1,16,64]
Needs wrk and pgbench on PATH (apt-get install wrk postgresql-client).
"""
import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def wrk(port, method, path, body, clients, seconds):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write('wrk.method = "%s"\n' % method)
    if body:
        script.write("wrk.body = %s\n" % json.dumps(body))
        script.write('wrk.headers["Content-Type"] = "application/json"\n')
        script.write('wrk.headers["Prefer"] = "return=minimal"\n')
    script.close()
    out = subprocess.run(["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{seconds}s", "--latency", "-s", script.name,
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"wrk saw {errors.group(1)} error responses for {path}:\n{out}")
    return rps, pct(50), pct(99)


def pgbench(db_url, statements, clients, seconds):
    script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
    for s in statements:
        script.write(" ".join(s.split()) + ";\n")
    script.close()
    out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
                          "-f", script.name, db_url], capture_output=True, text=True)
    m = re.search(r"tps = ([\d.]+)", out.stdout)
    if not m:
        sys.exit(f"pgbench failed:\n{out.stdout}\n{out.stderr}")
    lat = float(re.search(r"latency average = ([\d.]+) ms", out.stdout).group(1))
    return float(m.group(1)), lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/pgbase"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", default="1,16,64")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    project = tempfile.mkdtemp(prefix="pgbase-bench-")
    os.chmod(project, 0o755)  # Postgres runs as the postgres user when we are root
    shutil.copytree(os.path.join(HERE, "migrations"), os.path.join(project, "migrations"))
    port = free_port()
    server = subprocess.Popen([args.bin, "dev", "--dir", project, "--port", str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env={**os.environ, "RUST_LOG": "warn", "PGBASE_JOBS": "false"})
    try:
        db_url = None
        for line in server.stdout:
            if "Database URL:" in line:
                db_url = line.split("Database URL:")[1].strip()
            if line.startswith("Watching"):
                break
        log_path = os.path.join(project, ".pgbase/db/postgres.log")
        sql(args.bin, project, "alter system set log_statement = 'all'")
        sql(args.bin, project, "select pg_reload_conf()")
        time.sleep(0.5)
        captured = {}
        for name, (method, path, body) in SCENARIOS.items():
            offset = os.path.getsize(log_path)
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                         data=body.encode() if body else None,
                                         headers={"Content-Type": "application/json", "Prefer": "return=minimal"})
            urllib.request.urlopen(req).read()
            time.sleep(0.3)
            captured[name] = [s for s in capture_statements(log_path, offset)]
        sql(args.bin, project, "alter system reset log_statement")
        sql(args.bin, project, "select pg_reload_conf()")
        print(f"{'scenario':18} {'clients':>7} {'pgbase rps':>11} {'p50 ms':>7} {'p99 ms':>7} {'pgbench tps':>12} {'ratio':>6}")
        for name, (method, path, body) in SCENARIOS.items():
            for c in clients:
                rps, p50, p99 = wrk(port, method, path, body, c, args.seconds)
                tps, _ = pgbench(db_url, captured[name], c, args.seconds)
                print(f"{name:18} {c:7d} {rps:11.0f} {p50:7.2f} {p99:7.2f} {tps:12.0f} {rps / tps:6.2f}", flush=True)
        rss = int(open(f"/proc/{server.pid}/status").read().split("VmRSS:")[1].split()[0]) // 1024
        print(f"server RSS after the run: {rss} MB (target < 100 MB)")
        print("statements per request (from the Postgres log):")
        for name, stmts in captured.items():
            print(f"  {name}: " + " | ".join(" ".join(st.split())[:60] for st in stmts))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
