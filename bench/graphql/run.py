#!/usr/bin/env python3
"""GraphQL benchmark (issue 5): pgbase's /graphql/v1 beside PostGraphile v4 (npm
`postgraphile@4`) serving the same database, in the same run, with equivalent queries:
(a) 20 films, each with its director (many-to-one) and 5 roles (one-to-many connection);
(b) one film by primary key. Requests/s and p50/p99 from wrk at 16 and 64 clients, the ratio
pgbase/PostGraphile (target >= 2x), and pgbase's RSS (target < 100 MB).

Usage: bench/graphql/run.py [--bin target/release/pgbase] [--seconds 10]
Needs wrk and node/npm; PostGraphile is installed into a temporary folder at run time.
Uses the schema of bench/rest/migrations.
"""
import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

PGBASE = {
    "a_20_films_embeds": "{ filmsCollection(first: 20, orderBy: [{id: AscNullsLast}]) { edges { node { id title "
                         "directors { name } rolesCollection(first: 5) { edges { node { character } } } } } } }",
    "b_film_by_pk": "{ filmsByPk(id: 4242) { id title } }",
}
POSTGRAPHILE = {
    "a_20_films_embeds": "{ allFilms(first: 20, orderBy: ID_ASC) { nodes { id title directorByDirectorId { name } "
                         "rolesByFilmId(first: 5) { nodes { character } } } } }",
    "b_film_by_pk": "{ filmById(id: 4242) { id title } }",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, query):
    req = urllib.request.Request(url, method="POST", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        body = json.load(r)
    if body.get("errors"):
        sys.exit(f"{url}: {body['errors']}")
    return body


def wrk(url, query, clients, seconds):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
    script.write("wrk.body = %s\n" % json.dumps(json.dumps({"query": query})))
    script.close()
    out = subprocess.run(["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds}s", "--latency", "-s", script.name, url],
                         capture_output=True, text=True).stdout
    if "Non-2xx" in out:
        sys.exit(f"errors from {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    return rps, pct(50), pct(99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/pgbase"))
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    tools = tempfile.mkdtemp(prefix="pgbase-postgraphile-")
    subprocess.run(["npm", "install", "--prefix", tools, "--no-audit", "--no-fund", "--loglevel=error", "postgraphile@4.14.1"],
                   check=True, capture_output=True)
    project = tempfile.mkdtemp(prefix="pgbase-gqlbench-")
    os.chmod(project, 0o755)
    shutil.copytree(os.path.join(ROOT, "bench/rest/migrations"), os.path.join(project, "migrations"))
    port, peer_port = free_port(), free_port()
    server = subprocess.Popen([args.bin, "dev", "--dir", project, "--port", str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env={**os.environ, "RUST_LOG": "warn", "PGBASE_JOBS": "false"})
    peer = None
    try:
        db_url = None
        for line in server.stdout:
            if "Database URL:" in line:
                db_url = line.split("Database URL:")[1].strip()
            if line.startswith("Watching"):
                break
        peer = subprocess.Popen([os.path.join(tools, "node_modules/.bin/postgraphile"), "-c", db_url, "--schema", "public",
                                 "--port", str(peer_port), "--disable-graphiql", "--disable-query-log"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ours, theirs = f"http://127.0.0.1:{port}/graphql/v1", f"http://127.0.0.1:{peer_port}/graphql"
        for _ in range(100):
            try:
                post(theirs, POSTGRAPHILE["b_film_by_pk"])
                break
            except Exception:
                time.sleep(0.2)
        for name in PGBASE:
            a, b = post(ours, PGBASE[name]), post(theirs, POSTGRAPHILE[name])
            assert a and b
        print(f"{'query':18} {'clients':>7} {'pgbase rps':>10} {'p50':>6} {'p99':>6} {'postgraphile':>12} {'p50':>6} {'p99':>6} {'ratio':>6}")
        for name in PGBASE:
            for clients in (16, 64):
                a = wrk(ours, PGBASE[name], clients, args.seconds)
                b = wrk(theirs, POSTGRAPHILE[name], clients, args.seconds)
                print(f"{name:18} {clients:7d} {a[0]:10.0f} {a[1]:6.1f} {a[2]:6.1f} {b[0]:12.0f} {b[1]:6.1f} {b[2]:6.1f} {a[0] / b[0]:6.2f}", flush=True)
        rss = int(open(f"/proc/{server.pid}/status").read().split("VmRSS:")[1].split()[0]) // 1024
        print(f"pgbase RSS after the run: {rss} MB (target < 100 MB)")
    finally:
        if peer:
            peer.terminate()
            peer.wait(timeout=10)
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(tools, ignore_errors=True)


if __name__ == "__main__":
    main()
