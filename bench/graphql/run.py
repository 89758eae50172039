#!/usr/bin/env python3
"""GraphQL benchmark (issue 5): pgbase's /graphql/v1 beside PostGraphile v4 (npm
`postgraphile@4`) serving the same database, in the same run, with equivalent queries:
(a) 20 films, each with its director (many-to-one) and 5 roles (one-to-many connection);
(b) one film by primary key. Requests/s and p50/p99 from wrk at 16 and 64 clients, the ratio
pgbase/PostGraphile (targets: (a) >= 2x, (b) >= 2.5x), and pgbase's RSS (target < 100 MB).

Usage: bench/graphql/run.py [--bin target/release/pgbase] [--seconds 10]
Needs wrk and node/npm; PostGraphile is installed into a temporary folder at run time.
Uses the schema of bench/rest/migrations.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from lib import DEFAULT_BIN, DevServer, ensure_tools, free_port, result, wrk  # noqa: E402

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


def post(url, query):
    req = urllib.request.Request(url, method="POST", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        body = json.load(r)
    if body.get("errors"):
        sys.exit(f"{url}: {body['errors']}")
    return body


def graphql_wrk(url, query, clients, seconds):
    return wrk(url, clients, seconds, "POST", json.dumps({"query": query}), [("Content-Type", "application/json")])


TARGETS = {"a_20_films_embeds": 2.0, "b_film_by_pk": 2.5}


def install_postgraphile():
    """PostGraphile into a temporary folder (the caller removes it)."""
    tools = tempfile.mkdtemp(prefix="pgbase-postgraphile-")
    subprocess.run(["npm", "install", "--prefix", tools, "--no-audit", "--no-fund", "--loglevel=error", "postgraphile@4.14.1"],
                   check=True, capture_output=True)
    return tools


def measure(bin, seconds, log=print, tools=None, clients=(16, 64)):
    """Both servers on one database, each query at each client count; returns lib.result rows."""
    own_tools = tools is None
    tools = tools or install_postgraphile()
    peer = None
    rows = []
    try:
        with DevServer(bin, os.path.join(ROOT, "bench/rest/migrations"), prefix="pgbase-gqlbench-") as server:
            peer_port = free_port()
            peer = subprocess.Popen([os.path.join(tools, "node_modules/.bin/postgraphile"), "-c", server.db_url,
                                     "--schema", "public", "--port", str(peer_port), "--disable-graphiql",
                                     "--disable-query-log"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ours, theirs = f"{server.url}/graphql/v1", f"http://127.0.0.1:{peer_port}/graphql"
            for _ in range(100):
                try:
                    post(theirs, POSTGRAPHILE["b_film_by_pk"])
                    break
                except Exception:
                    time.sleep(0.2)
            for name in PGBASE:
                a, b = post(ours, PGBASE[name]), post(theirs, POSTGRAPHILE[name])
                assert a and b
            log(f"{'query':18} {'clients':>7} {'pgbase rps':>10} {'p50':>6} {'p99':>6} {'postgraphile':>12} {'p50':>6} {'p99':>6} {'ratio':>6}")
            for name in PGBASE:
                for c in clients:
                    a = graphql_wrk(ours, PGBASE[name], c, seconds)
                    b = graphql_wrk(theirs, POSTGRAPHILE[name], c, seconds)
                    log(f"{name:18} {c:7d} {a[0]:10.0f} {a[1]:6.1f} {a[2]:6.1f} {b[0]:12.0f} {b[1]:6.1f} {b[2]:6.1f} {a[0] / b[0]:6.2f}")
                    rows.append(result(f"graphql {name} {c}c vs PostGraphile", a[0], b[0], TARGETS[name]))
            rss = server.rss_mb()
            log(f"pgbase RSS after the run: {rss} MB (target < 100 MB)")
            rows.append(result("graphql RSS after the run", rss, None, 100, "<", "MB"))
            peer.terminate()
            peer.wait(timeout=10)
            peer = None
    finally:
        if peer:
            peer.terminate()
            peer.wait(timeout=10)
        if own_tools:
            shutil.rmtree(tools, ignore_errors=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    ensure_tools("wrk", "npm")
    measure(args.bin, args.seconds, lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
