"""Helpers shared by the benchmark scripts: a free port, a `pgbase dev` server on a throwaway
project, wrk and pgbench runs parsed into numbers. Standard library only."""
import os, re, shutil, signal, socket, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release/pgbase")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevServer:
    """`pgbase dev` on a fresh temporary project (with `migrations` copied in when given); the
    printed banner gives the database URL and the keys. Use as a context manager."""

    def __init__(self, bin, migrations=None, jobs=False, prefix="pgbase-bench-", env=None):
        self.project = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.project, 0o755)  # Postgres runs as the postgres user when we are root
        if migrations:
            shutil.copytree(migrations, os.path.join(self.project, "migrations"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "RUST_LOG": "warn", "PGBASE_JOBS": "true" if jobs else "false", **(env or {})}
        self.proc = subprocess.Popen([bin, "dev", "--dir", self.project, "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.db_url = self.anon_key = None
        for line in self.proc.stdout:
            if "Database URL:" in line:
                self.db_url = line.split("Database URL:")[1].strip()
            if "anon key:" in line:
                self.anon_key = line.split("anon key:")[1].strip()
            if line.startswith("Watching"):
                break
        if not self.db_url:
            self.stop()
            sys.exit(f"{bin} dev did not start")

    def rss_mb(self):
        return int(open(f"/proc/{self.proc.pid}/status").read().split("VmRSS:")[1].split()[0]) // 1024

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.project, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wrk(url, clients, seconds, method="GET", body=None, headers=()):
    """Runs wrk against `url`; returns (requests/s, p50 ms, p99 ms). Any non-2xx/3xx response
    ends the benchmark with wrk's output."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write('wrk.method = "%s"\n' % method)
    if body is not None:
        script.write("wrk.body = %s\n" % _lua_string(body))
    for name, value in headers:
        script.write("wrk.headers[%s] = %s\n" % (_lua_string(name), _lua_string(value)))
    script.close()
    out = subprocess.run(["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{seconds}s", "--latency",
                          "-s", script.name, url], capture_output=True, text=True).stdout
    os.unlink(script.name)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"wrk saw {errors.group(1)} error responses from {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    return rps, percentile(50), percentile(99)


def pgbench(url, script, clients, seconds):
    """Runs the SQL `script` with pgbench (prepared statements); returns transactions/s."""
    f = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
    f.write(script)
    f.close()
    out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
                          "-T", str(seconds), "-f", f.name, url], capture_output=True, text=True)
    os.unlink(f.name)
    m = re.search(r"tps = ([\d.]+)", out.stdout)
    if not m:
        sys.exit(f"pgbench failed:\n{out.stdout}\n{out.stderr}")
    return float(m.group(1))


def _lua_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# --- results shared by the scripts and bench/run -------------------------------------------

def result(scenario, ours, ref=None, target=None, op=">=", unit="req/s"):
    """One line of the benchmark table. With `ref` the target applies to ours/ref (a ratio);
    without it, to `ours` itself (`op` is ">=" or "<"). `target=None` means informational."""
    return {"scenario": scenario, "ours": ours, "ref": ref, "target": target, "op": op, "unit": unit,
            "ratio": ours / ref if ref else None}


def passed(row):
    if row["target"] is None or row["ours"] is None:
        return None
    value = row["ratio"] if row["ref"] else row["ours"]
    return value >= row["target"] if row["op"] == ">=" else value < row["target"]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def psql(url, sql):
    """Runs `sql` with psql (stops on the first error); returns its output."""
    out = subprocess.run(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", url], input=sql, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"psql failed: {out.stderr[-2000:]}")
    return out.stdout


def ensure_tools(*names):
    """Finds each tool on PATH, installing its Debian package (as the scripts document) when
    missing and apt-get is there."""
    packages = {"wrk": "wrk", "pgbench": "postgresql-client", "psql": "postgresql-client", "npm": "npm"}
    missing = [n for n in names if shutil.which(n) is None]
    if missing and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q"] + sorted({packages[n] for n in missing}),
                       capture_output=True)
    still = [n for n in names if shutil.which(n) is None]
    if still:
        sys.exit(f"missing tools: {', '.join(still)} (apt-get install {' '.join(packages[n] for n in still)})")
