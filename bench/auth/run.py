#!/usr/bin/env python3
"""Auth benchmark (issue 4): password sign-ins/s and refreshes/s against /auth/v1, and
authenticated GET throughput against anonymous GET of the same endpoint in the same run
(target: >= 0.9, thanks to the verified-token cache).

Usage: bench/auth/run.py [--bin target/release/pgbase] [--seconds 10] [--clients 16]
Needs wrk on PATH (apt-get install wrk).
"""
import argparse, json, os, sys, threading, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from lib import DEFAULT_BIN, DevServer, ensure_tools, result, wrk  # noqa: E402


def post(url, body, headers=None):
    req = urllib.request.Request(url, method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def rate(fn, threads, seconds):
    """Calls fn() from `threads` threads for `seconds`; returns calls/s."""
    count = [0]
    lock = threading.Lock()
    stop = time.time() + seconds

    def worker(i):
        n = 0
        state = None
        while time.time() < stop:
            state = fn(i, state)
            n += 1
        with lock:
            count[0] += n

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return count[0] / (time.time() - started)


# The per-address sign-in and refresh limits (30 and 150 per window by default) would answer
# the load generator 429; throughput is what is measured here.
NO_RATE_LIMITS = {"PGBASE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UP": "1000000", "PGBASE_AUTH_RATE_LIMIT_TOKEN_REFRESH": "1000000"}


def measure(bin, seconds, clients, log=print):
    """Anonymous vs authenticated GET, sign-ins/s, refreshes/s; returns lib.result rows."""
    with DevServer(bin, os.path.join(HERE, "migrations"), jobs=True, prefix="pgbase-authbench-",
                   env=NO_RATE_LIMITS) as server:
        anon, base = server.anon_key, server.url
        users = [f"user{i}@bench.test" for i in range(clients)]
        for email in users:
            post(f"{base}/auth/v1/signup", {"email": email, "password": "bench-password"}, {"apikey": anon})
        session = post(f"{base}/auth/v1/token?grant_type=password", {"email": users[0], "password": "bench-password"}, {"apikey": anon})
        token = session["access_token"]

        url = f"{base}/rest/v1/notes?select=id,body&limit=10"
        anon_rps = wrk(url, clients, seconds, headers=[("apikey", anon)])[0]
        auth_rps = wrk(url, clients, seconds, headers=[("apikey", anon), ("Authorization", f"Bearer {token}")])[0]

        def sign_in(i, _):
            post(f"{base}/auth/v1/token?grant_type=password", {"email": users[i], "password": "bench-password"}, {"apikey": anon})

        def refresh(i, state):
            if state is None:
                state = post(f"{base}/auth/v1/token?grant_type=password", {"email": users[i], "password": "bench-password"}, {"apikey": anon})["refresh_token"]
            return post(f"{base}/auth/v1/token?grant_type=refresh_token", {"refresh_token": state}, {"apikey": anon})["refresh_token"]

        threads = min(clients, 8)
        sign_ins = rate(sign_in, threads, seconds)
        refreshes = rate(refresh, threads, seconds)
        log(f"anonymous GET:     {anon_rps:8.0f} req/s  ({clients} clients)")
        log(f"authenticated GET: {auth_rps:8.0f} req/s  ratio {auth_rps / anon_rps:.2f} (target >= 0.9)")
        log(f"password sign-ins: {sign_ins:8.1f} /s    ({threads} threads; bcrypt cost 10)")
        log(f"refreshes:         {refreshes:8.1f} /s    ({threads} threads; python client)")
    return [result(f"auth GET {clients}c vs anonymous GET", auth_rps, anon_rps, 0.9),
            result(f"auth password sign-ins ({threads} threads)", sign_ins, unit="/s"),
            result(f"auth refreshes ({threads} threads)", refreshes, unit="/s")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=16)
    args = ap.parse_args()
    ensure_tools("wrk")
    measure(args.bin, args.seconds, args.clients, lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
