#!/usr/bin/env python3
"""CPU per request (issue 16), measured as valgrind instruction counts, which repeat to a
fraction of a percent on a machine too noisy for wall-clock comparisons.

The REST bench's schema (bench/rest/migrations) is set up by `pgbase dev` (not measured); a
second process, `pgbase serve` against that database, runs under
`valgrind --tool=callgrind` and gets WARMUP requests and then exactly N requests over one
keep-alive connection, and exits (SIGINT). That is done for two values of N:

    instructions per request = (Ir(N2) - Ir(N1)) / (N2 - N1)

so start-up, schema-cache loading and shutdown cancel out. Scenarios: REST `GET
/rest/v1/films?id=eq.4242` (bench/rest/run.py's (a)) and GraphQL `filmsByPk`
(bench/graphql/run.py's (b)), both as the anon role as those benchmarks send them. Only the
pgbase process is counted (not Postgres, not the client).

Usage: bench/cpu/instructions.py [--bin target/release/pgbase] [--n 300,1300] [--only rest,graphql]
                                 [--annotate 40] [--keep DIR]
--annotate K prints the K most expensive functions (inclusive and self, per request, from the N2 run
minus the N1 run) for each scenario; --keep DIR keeps the callgrind.out files there (open them
with `callgrind_annotate --inclusive=yes FILE` or kcachegrind).
Needs valgrind (apt-get install valgrind).
"""
import argparse, http.client, json, os, re, shutil, signal, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from lib import DEFAULT_BIN, DevServer, free_port  # noqa: E402

GRAPHQL_QUERY = "{ filmsByPk(id: 4242) { id title } }"
SCENARIOS = {
    "rest": ("GET", "/rest/v1/films?id=eq.4242", None, {}, b'"film 4242"'),
    "graphql": ("POST", "/graphql/v1", json.dumps({"query": GRAPHQL_QUERY}),
                {"Content-Type": "application/json"}, b'"film 4242"'),
}
SECRET = "cpu-bench-secret-0123456789abcdef0123456789abcdef"


def send(conn, scenario):
    method, path, body, headers, expect = SCENARIOS[scenario]
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200 or expect not in data:
        raise RuntimeError(f"{scenario}: {response.status} {data[:300]!r}")


def wait_ready(port, scenario, proc, timeout=300):
    """Polls (every 0.5 s, so only a few requests) until the scenario answers 200."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"pgbase serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            send(conn, scenario)
            conn.close()
            return
        except (OSError, RuntimeError, http.client.HTTPException):
            time.sleep(0.5)
    sys.exit("pgbase serve under valgrind did not answer in time")


def measure_once(bin, db_url, scenario, n, warmup, out_file):
    """Total instructions of one `pgbase serve` process that served `warmup + n` requests."""
    port = free_port()
    env = {**os.environ, "RUST_LOG": "warn", "PGBASE_JOBS": "false", "PGBASE_JWT_SECRET": SECRET,
           "PGBASE_PORT": str(port), "DATABASE_URL": db_url, "PGBASE_LISTEN": "127.0.0.1"}
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                             bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(port, scenario, proc)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(warmup):
            send(conn, scenario)
        for _ in range(n):
            send(conn, scenario)
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    m = re.search(r"Collected : (\d+)", err)
    if not m:
        sys.exit(f"no callgrind total in valgrind's output:\n{err[-2000:]}")
    return int(m.group(1))


def costs_of(out_file, inclusive):
    """function -> instructions (inclusive or self), from callgrind_annotate."""
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", out_file],
                         capture_output=True, text=True).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(?:\* )?(.*?)\s*$", line) or re.match(r"\s*([\d,]+)\s+(?:\* )?(.+?)\s*$", line)
        if m and ":" in m.group(2):
            name = m.group(2).split(":", 1)[1] if m.group(2).startswith("???:") else m.group(2)
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--n", default="300,1300", help="the two request counts N1,N2")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--only", default="rest,graphql")
    ap.add_argument("--annotate", type=int, default=0, metavar="K")
    ap.add_argument("--keep", metavar="DIR")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is missing (apt-get install valgrind)")
    n1, n2 = (int(x) for x in args.n.split(","))
    out_dir = args.keep or tempfile.mkdtemp(prefix="pgbase-cpu-")
    os.makedirs(out_dir, exist_ok=True)
    with DevServer(args.bin, os.path.join(ROOT, "bench/rest/migrations"), prefix="pgbase-cpubench-") as server:
        sep = "&" if "?" in server.db_url else "?"
        db_url = f"{server.db_url}{sep}sslmode=disable"
        for scenario in args.only.split(","):
            files = [os.path.join(out_dir, f"callgrind.{scenario}.{n}") for n in (n1, n2)]
            totals = [measure_once(args.bin, db_url, scenario, n, args.warmup, f) for n, f in zip((n1, n2), files)]
            per = (totals[1] - totals[0]) / (n2 - n1)
            print(f"{scenario:8} instructions/request: {per:,.0f}   (Ir {totals[0]:,} at N={n1}, {totals[1]:,} at N={n2})",
                  flush=True)
            for inclusive in (True, False) if args.annotate else ():
                a, b = costs_of(files[0], inclusive), costs_of(files[1], inclusive)
                rows = sorted(((b.get(k, 0) - a.get(k, 0)) / (n2 - n1), k) for k in b)
                rows.reverse()
                kind = "inclusive (async recursion counts twice)" if inclusive else "self"
                print(f"  top {args.annotate} functions, {kind} instructions per request:")
                for cost, name in rows[:args.annotate]:
                    print(f"  {cost:12,.0f}  {name[:150]}")
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
