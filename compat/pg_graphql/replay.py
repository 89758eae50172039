#!/usr/bin/env python3
"""Replay pg_graphql's regression suite against pgbase's /graphql/v1.

Python 3.11 standard library only; shells out to the PostgreSQL server binaries (initdb, pg_ctl,
psql, createdb) and to the pgbase binary. Upstream files are read from a directory given on the
command line (or extracted from the local mirror into a temporary directory); nothing upstream is
copied into this repository. See README.md beside this file.

How a test file is replayed
- One private cluster per run (initdb as the `postgres` OS user when run as root); a template
  database holding pgbase's system schemas (`pgbase migrate`), and per test file a fresh database
  cloned from it, with `pgbase serve` in front of it.
- In that database, `graphql.resolve(query, variables, "operationName", extensions)` is a shim:
  it POSTs the call to pgbase's /graphql/v1 (via COPY FROM PROGRAM, as the server's OS user),
  signed as the role that is current in the psql session (the superuser by default, the role of
  `set role` otherwise, plus `request.jwt.claims` if set), and returns pgbase's JSON as jsonb. So
  every statement of the file runs unchanged in psql and prints the way pg_graphql's would.
- pgbase reads with its own connection, so the file runs in autocommit: `begin`/`commit` are
  dropped, `set local` becomes `set` (undone at the transaction's end), and `rollback` /
  `rollback to savepoint` are emulated by rebuilding a fresh database and replaying the statements
  that the rollback keeps (only when a resolve call follows).
- Before each resolve call that follows DDL, the harness waits for pgbase's schema cache to reload
  (its /health reports the cache version); the exposed schemas follow the session's
  `current_schemas(false)` as pg_graphql's do (pgbase serve is restarted when they change).
- The psql output of each statement that calls graphql.resolve is compared with the expected
  output in the .out file: JSON semantically (key order and spacing irrelevant), anything else as
  text.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

MIRROR = "/work/.mirror/supabase+pg_graphql/repo"
SYSTEM_ROLES = {"anon", "authenticated", "service_role", "authenticator", "postgres",
                "replay_superuser"}
SECRET = "replay-secret-0123456789abcdef-0123456789abcdef"
OPS_TOKEN = "replay-ops-token"
# pgbase refuses tokens naming a superuser login; pg_graphql's tests run as the superuser, so
# requests made as the superuser are signed for this superuser role granted to authenticator.
SUPER_ROLE = "replay_superuser"

# ----------------------------------------------------------------------------------------------
# Upstream suite


def extract_from_mirror(mirror: str, dest: Path) -> list[str]:
    """Writes test/** of the mirror's HEAD under dest; returns paths whose blobs are missing."""
    listing = subprocess.run(
        ["git", "-C", mirror, "ls-tree", "-r", "HEAD", "test"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    missing = []
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        _mode, kind, sha = meta.split()
        if kind != "blob":
            continue
        blob = subprocess.run(["git", "-C", mirror, "cat-file", "blob", sha], capture_output=True)
        if blob.returncode != 0:
            missing.append(path)
            continue
        out = dest / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(blob.stdout)
    return missing


# ----------------------------------------------------------------------------------------------
# SQL splitting (psql's rules, enough for the suite: quotes, E'', "idents", $tag$, comments)


@dataclass
class Stmt:
    text: str
    end_line: int  # 0-based line index of the terminating ';'


def split_sql(text: str) -> list[Stmt]:
    stmts: list[Stmt] = []
    i, n, line = 0, len(text), 0
    start = 0
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c == "/" and text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += text[i] == "\n"
                    i += 1
        elif c == "'":
            escape = i > 0 and text[i - 1] in "eE" and (i < 2 or not text[i - 2].isalnum())
            i += 1
            while i < n:
                if escape and text[i] == "\\":
                    i += 2
                    continue
                if text[i] == "'":
                    if text.startswith("''", i):
                        i += 2
                        continue
                    i += 1
                    break
                line += text[i] == "\n"
                i += 1
        elif c == '"':
            j = text.find('"', i + 1)
            j = n if j < 0 else j
            line += text.count("\n", i, j)
            i = j + 1
        elif c == "$" and (m := re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])) and not (
            i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            tag = m.group(0)
            j = text.find(tag, i + len(tag))
            j = n if j < 0 else j
            line += text.count("\n", i, j)
            i = j + len(tag)
        elif c == ";":
            stmts.append(Stmt(text[start : i + 1], line))
            i += 1
            start = i
        else:
            i += 1
    return stmts


def strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return "\n".join(l.split("--", 1)[0] if "--" in l and "'" not in l else l for l in sql.splitlines())


def norm(sql: str) -> str:
    return " ".join(strip_comments(sql).strip().rstrip(";").split()).lower()


def is_resolve(sql: str) -> bool:
    return "graphql.resolve(" in strip_comments(sql).replace(" ", "").lower()


# ----------------------------------------------------------------------------------------------
# Expected output: align the echoed statements of the .out file with the statements


def chunks_of(sql_text: str, stmts: list[Stmt]) -> list[tuple[list[int], list[str]]]:
    """Groups statements by their last line: [(statement indexes, echoed non-blank lines)]."""
    lines = sql_text.splitlines()
    out: list[tuple[list[int], list[str]]] = []
    prev_end = -1
    for k, s in enumerate(stmts):
        if out and s.end_line == prev_end:
            out[-1][0].append(k)
            continue
        echoed = [l for l in lines[prev_end + 1 : s.end_line + 1] if l.strip()]
        out.append(([k], echoed))
        prev_end = s.end_line
    tail = [l for l in lines[prev_end + 1 :] if l.strip()]
    if tail:
        out.append(([], tail))
    return out


def match_at(out_lines: list[str], p: int, want: list[str]) -> int | None:
    j = p
    for w in want:
        while j < len(out_lines) and not out_lines[j].strip():
            j += 1
        if j >= len(out_lines) or out_lines[j].rstrip() != w.rstrip():
            return None
        j += 1
    return j


def expected_outputs(sql_text: str, stmts: list[Stmt], out_text: str) -> dict[int, str] | None:
    """Maps the index of each statement ending a chunk to that chunk's expected output."""
    out_lines = out_text.splitlines()
    chunks = chunks_of(sql_text, stmts)
    result: dict[int, str] = {}
    p = 0
    ends: list[int] = []
    for _idx, echoed in chunks:
        j = match_at(out_lines, p, echoed)
        if j is None:
            # statements that print nothing are echoed; search forward for the chunk
            q = p
            while q < len(out_lines) and (j := match_at(out_lines, q, echoed)) is None:
                q += 1
            if j is None:
                return None
        ends.append(j)
        p = j
    for c, (idx, echoed) in enumerate(chunks):
        if not idx:
            continue
        start = ends[c]
        if c + 1 < len(chunks):
            nxt = chunks[c + 1][1]
            q = start
            while q <= len(out_lines) and match_at(out_lines, q, nxt) is None:
                q += 1
            stop = q
        else:
            stop = len(out_lines)
        result[idx[-1]] = "\n".join(out_lines[start:stop])
    return result


# ----------------------------------------------------------------------------------------------
# psql output → values


def parse_psql(text: str):
    """The value printed by a one-column query (a JSON value when it parses), else the text."""
    lines = [l for l in text.splitlines()]
    body = [l for l in lines if l.strip()]
    for k in range(len(body) - 1):
        if re.fullmatch(r"-+(\+-+)*", body[k + 1].strip()) and "+" not in body[k + 1].strip():
            rows: list[str] = []
            cur: list[str] = []
            for l in body[k + 2 :]:
                if re.fullmatch(r"\(\d+ rows?\)", l.strip()):
                    break
                cell = l[1:] if l.startswith(" ") else l
                if cell.endswith("+"):
                    cur.append(cell[:-1].rstrip())
                    continue
                cur.append(cell.rstrip())
                rows.append("\n".join(cur))
                cur = []
            values = []
            for r in rows:
                try:
                    values.append(json.loads(r, parse_float=Decimal, parse_int=Decimal))
                except ValueError:
                    values.append(r.strip())
            rest = [l.strip() for l in body if l.strip().startswith(("ERROR", "WARNING", "NOTICE"))]
            return {"rows": values, "messages": rest}
    return {"text": "\n".join(l.rstrip() for l in body)}


def first_difference(exp, got) -> str:
    """Category of the difference between two parsed outputs."""
    if "rows" not in exp or "rows" not in got:
        return "statement failed / not a result"
    if len(exp["rows"]) != len(got["rows"]):
        return "data differs"
    cats = []
    for e, g in zip(exp["rows"], got["rows"]):
        if e == g:
            continue
        if isinstance(e, dict) and isinstance(g, dict) and "errors" in e and "errors" in g:
            ee, ge = e["errors"], g["errors"]
            same_data = e.get("data", "<absent>") == g.get("data", "<absent>")
            shape = (
                same_data
                and isinstance(ee, list)
                and isinstance(ge, list)
                and len(ee) == len(ge)
                and all(
                    isinstance(a, dict) and isinstance(b, dict) and set(a) == set(b)
                    for a, b in zip(ee, ge)
                )
            )
            if shape:
                cats.append("error text only")
            else:
                cats.append("error shape")
        else:
            cats.append("data differs")
    if not cats:
        return "messages differ"
    for c in ("data differs", "error shape", "error text only"):
        if c in cats:
            return c
    return cats[0]


# ----------------------------------------------------------------------------------------------
# Cluster, template database, pgbase serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_pg_bin() -> Path:
    cands = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not cands:
        sys.exit("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return cands[-1]


class Cluster:
    def __init__(self, work: Path, pg_bin: Path):
        self.pg_bin = pg_bin
        self.dir = work / "cluster"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        self.user = "postgres"
        self.dir.mkdir(parents=True)
        if self.as_postgres:
            shutil.chown(work, "postgres")
            shutil.chown(self.dir, "postgres")
        self._run([str(pg_bin / "initdb"), "-D", str(self.dir / "data"), "-U", self.user,
                   "--auth=trust", "--nosync", "-E", "UTF8", "--locale=C"])
        # pg_regress runs the suite with PGTZ=PST8PDT and PGDATESTYLE="Postgres, MDY"; pgbase's
        # connections get the same as server defaults
        with open(self.dir / "data" / "postgresql.conf", "a") as conf:
            conf.write("\ntimezone = 'PST8PDT'\ndatestyle = 'Postgres, MDY'\n")
        opts = f"-p {self.port} -k {self.dir} -c fsync=off -c listen_addresses=127.0.0.1"
        self._run([str(pg_bin / "pg_ctl"), "-D", str(self.dir / "data"), "-o", opts, "-l",
                   str(self.dir / "log"), "-w", "start"])

    def _run(self, argv: list[str]):
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        subprocess.run(argv, check=True, capture_output=True)

    def url(self, db: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{db}"

    def psql(self, db: str, sql: str, check: bool = True) -> str:
        r = subprocess.run(
            [str(self.pg_bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-d", self.url(db), "-c", sql],
            capture_output=True, text=True,
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout.strip()

    def stop(self):
        self._run([str(self.pg_bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                   "stop"])


SHIM = r"""
create schema if not exists graphql;
create or replace function graphql._replay_http(request text) returns jsonb
language plpgsql security definer
set search_path = pg_catalog, pg_temp set client_min_messages = warning as $f$
declare body text;
begin
  create temp table if not exists _replay_io(line text);
  delete from _replay_io;
  execute format(
    'copy _replay_io from program %L with (format csv, delimiter e''\x02'', quote e''\x01'')',
    'python3 __CALL__ ' || encode(convert_to(request, 'UTF8'), 'hex'));
  select line into body from _replay_io limit 1;
  if body is null or body not like '{%' then
    raise exception 'REPLAY-HARNESS: no JSON from pgbase: %', coalesce(body, '<nothing>');
  end if;
  return body::jsonb;
end
$f$;
create or replace function graphql.resolve(
  query text, variables jsonb default '{}', "operationName" text default null,
  extensions jsonb default null) returns jsonb
language sql volatile as $f$
  select graphql._replay_http(jsonb_build_object(
    'role', current_user, 'query', query, 'variables', variables,
    'operationName', "operationName",
    'claims', nullif(current_setting('request.jwt.claims', true), ''))::text)
$f$;
grant usage on schema graphql to public;
grant execute on all functions in schema graphql to public;
"""

CALL_PY = r"""
import base64, hashlib, hmac, json, sys, urllib.error, urllib.request
conf = json.load(open(__CONF__))
req = json.loads(bytes.fromhex(sys.argv[1]).decode())
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
claims = {}
if req.get("claims"):
    try: claims = json.loads(req["claims"])
    except ValueError: claims = {}
claims["role"] = conf["superuser_role"] if req["role"] == "postgres" else req["role"]
claims.setdefault("exp", 4102444800)
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
pay = b64(json.dumps(claims).encode())
sig = b64(hmac.new(conf["secret"].encode(), f"{head}.{pay}".encode(), hashlib.sha256).digest())
token = f"{head}.{pay}.{sig}"
body = {"query": req["query"]}
if req.get("variables") is not None: body["variables"] = req["variables"]
if req.get("operationName") is not None: body["operationName"] = req["operationName"]
r = urllib.request.Request(f"http://127.0.0.1:{conf['port']}/graphql/v1",
    data=json.dumps(body).encode(), method="POST",
    headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", "apikey": token})
try:
    with urllib.request.urlopen(r, timeout=30) as resp: text = resp.read()
except urllib.error.HTTPError as e:
    text = e.read()
except Exception as e:
    print("harness: " + repr(e)); sys.exit(0)
try:
    print(json.dumps(json.loads(text), ensure_ascii=True))
except ValueError:
    print("harness: not JSON (%r)" % text[:200])
"""


class Server:
    def __init__(self, pgbase: str, cluster: Cluster, db: str, schemas: str, work: Path):
        self.port = free_port()
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": cluster.url(db),
            "PGBASE_DB_SCHEMAS": schemas,
            "PGBASE_PORT": str(self.port),
            "PGBASE_LISTEN": "127.0.0.1",
            "PGBASE_JWT_SECRET": SECRET,
            "PGBASE_GRAPHQL_INTROSPECTION": "false",
            "PGBASE_METRICS_TOKEN": OPS_TOKEN,
            "PGBASE_JOBS": "false",
            # pg_graphql has no unfiltered-write guard; atMost is its only limit
            "PGBASE_DB_SAFE_UPDATE": "false",
            "PGBASE_LOG_FORMAT": "json",
            "RUST_LOG": "warn",
        })
        self.log = open(work / "serve.log", "ab")
        self.proc = subprocess.Popen([pgbase, "serve"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=work)
        (work / "conf.json").write_text(json.dumps({"port": self.port, "secret": SECRET, "superuser_role": SUPER_ROLE}))
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbase serve exited ({self.proc.returncode}); see {work}/serve.log")
            v = self.cache_version()
            if v is not None and v >= 1:
                return
            time.sleep(0.05)
        raise RuntimeError("pgbase serve did not become healthy")

    def cache_version(self) -> int | None:
        try:
            r = urllib.request.Request(f"http://127.0.0.1:{self.port}/health",
                                       headers={"Authorization": f"Bearer {OPS_TOKEN}"})
            with urllib.request.urlopen(r, timeout=2) as resp:
                return json.loads(resp.read())["schema_cache"]["version"]
        except (OSError, ValueError, KeyError):
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Psql:
    """One interactive psql session; run(sql) returns what the statement printed."""

    def __init__(self, pg_bin: Path, url: str):
        self.proc = subprocess.Popen(
            [str(pg_bin / "psql"), "-X", "-q", "-d", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, encoding="utf-8", env=dict(os.environ, PGCLIENTENCODING="UTF8"),
        )
        self.n = 0

    def run(self, sql: str) -> str:
        self.n += 1
        mark = f"@@REPLAY-MARK-{self.n}@@"
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(sql + "\n\\echo " + mark + "\n")
        self.proc.stdin.flush()
        out = []
        while True:
            l = self.proc.stdout.readline()
            if not l:
                raise RuntimeError("psql exited")
            if l.rstrip("\n") == mark:
                break
            out.append(l.rstrip("\n"))
        return "\n".join(re.sub(r"^psql:<stdin>:\d+: ", "", l) for l in out)

    def value(self, sql: str) -> str:
        out = self.run("\\pset tuples_only on\n\\pset format unaligned\n" + sql +
                       "\n\\pset tuples_only off\n\\pset format aligned")
        return "\n".join(l for l in out.splitlines() if not l.startswith(("Tuples", "Output")))

    def close(self):
        try:
            assert self.proc.stdin
            self.proc.stdin.close()
            self.proc.wait(5)
        except Exception:
            self.proc.kill()


# ----------------------------------------------------------------------------------------------
# Replaying one file

TXN_RE = {
    "begin": re.compile(r"^(begin|start transaction)( (transaction|work))?( isolation level .*)?$"),
    "commit": re.compile(r"^(commit|end)( (transaction|work))?$"),
    "rollback": re.compile(r"^(rollback|abort)( (transaction|work))?$"),
    "rollback_to": re.compile(r"^rollback( (transaction|work))? to (savepoint )?(\w+)$"),
    "savepoint": re.compile(r"^savepoint (\w+)$"),
    "release": re.compile(r"^release (savepoint )?(\w+)$"),
}
READ_OR_DATA = re.compile(r"^(select|insert|update|delete|with|values|show|table|explain|reset|set|"
                          r"savepoint|release|notify|analyze|vacuum)\b")


@dataclass
class CallResult:
    file: str
    index: int
    status: str  # pass | fail | unsupported
    category: str = ""
    statement: str = ""
    expected: str = ""
    got: str = ""


@dataclass
class Env:
    pgbase: str
    cluster: Cluster
    work: Path
    pg_bin: Path
    fixtures: list[str]
    verbose: bool = False


class FileRun:
    def __init__(self, env: Env, name: str, ordinal: int):
        self.env, self.name, self.ordinal = env, name, ordinal
        self.gen = 0
        self.db = ""
        self.psql: Psql | None = None
        self.server: Server | None = None
        self.schemas = ""
        self.dbs: list[str] = []
        self.dirty = True
        self.granted: set[str] = set()
        self.history: list[str] = []
        self.begin_at: int | None = None
        self.savepoints: dict[str, int] = {}
        self.local_resets: list[str] = []

    # a fresh database with the shim and the fixtures, then `history` replayed silently
    def fresh(self, history: list[str]):
        self.teardown_db()
        self.gen += 1
        self.db = f"replay_{self.ordinal}_{self.gen}"
        self.dbs.append(self.db)
        c = self.env.cluster
        c.psql("postgres", f'create database "{self.db}" template replay_template')
        self.psql = Psql(self.env.pg_bin, c.url(self.db))
        call = self.env.work / "call.py"
        self.psql.run(SHIM.replace("__CALL__", str(call)))
        for s in self.env.fixtures:
            self.psql.run(s)
        self.schemas = ""
        self.ensure_server()
        for s in history:
            if is_resolve(s):
                self.before_resolve()
            else:
                self.dirty = True
            self.psql.run(s)

    def current_schemas(self) -> str:
        assert self.psql
        v = self.psql.value("select array_to_string(current_schemas(false), ',');").strip()
        return v or "replay_no_schema"

    def ensure_server(self):
        schemas = self.current_schemas()
        if self.server and schemas == self.schemas:
            return
        if self.server:
            self.server.stop()
        self.server = Server(self.env.pgbase, self.env.cluster, self.db, schemas, self.env.work)
        self.schemas = schemas
        self.dirty = False

    def before_resolve(self):
        assert self.psql
        role = self.psql.value("select current_user;").strip()
        if role not in ("postgres", SUPER_ROLE, "anon") and role not in self.granted:
            self.env.cluster.psql("postgres", f'grant "{role}" to authenticator', check=False)
            self.granted.add(role)
            self.dirty = True
        self.ensure_server()
        if not self.dirty:
            return
        assert self.server and self.psql
        v0 = self.server.cache_version() or 0
        self.psql.run("notify pgrst, 'reload schema';")
        deadline = time.time() + 15
        while time.time() < deadline:
            v = self.server.cache_version() or 0
            if v > v0:
                # let a reload already queued behind it finish too
                time.sleep(0.12)
                v2 = self.server.cache_version() or 0
                if v2 == v:
                    break
                v0 = v
            time.sleep(0.02)
        self.dirty = False

    def teardown_db(self):
        if self.psql:
            self.psql.close()
            self.psql = None
        if self.server:
            self.server.stop()
            self.server = None

    def cleanup(self, roles: set[str]):
        self.teardown_db()
        c = self.env.cluster
        for db in self.dbs:
            c.psql("postgres", f'drop database if exists "{db}" with (force)', check=False)
        for r in roles - SYSTEM_ROLES:
            c.psql("postgres", f'drop role if exists "{r}"', check=False)

    def run(self, sql_text: str, out_text: str | None) -> list[CallResult]:
        stmts = split_sql(sql_text)
        resolve_idx = [k for k, s in enumerate(stmts) if is_resolve(s.text)]
        if out_text is None:
            return [CallResult(self.name, k, "unsupported", "expected output missing", stmts[k].text)
                    for k in resolve_idx]
        expected = expected_outputs(sql_text, stmts, out_text)
        if expected is None:
            return [CallResult(self.name, k, "unsupported", "cannot align expected output",
                               stmts[k].text) for k in resolve_idx]
        roles = set(re.findall(r"create\s+(?:role|user)\s+\"?(\w+)", sql_text, re.I))
        results: list[CallResult] = []
        chunk_members = {c[0][-1]: c[0] for c in chunks_of(sql_text, stmts) if c[0]}
        pending_output: list[str] = []
        try:
            self.fresh([])
            for k, st in enumerate(stmts):
                remaining = any(r > k for r in resolve_idx)
                pending_output.append(self.step(st.text, remaining))
                if k in expected:
                    members = chunk_members.get(k, [k])
                    got_all = "\n".join(o for o in pending_output if o)
                    pending_output = []
                    calls = [j for j in members if j in resolve_idx]
                    if calls:
                        res = self.compare(k, st.text, expected[k], got_all)
                        for j in calls:
                            results.append(CallResult(**{**res.__dict__, "index": j,
                                                         "statement": stmts[j].text}))
        except Exception as e:  # noqa: BLE001 - the harness reports and moves on
            done = {r.index for r in results}
            for k in resolve_idx:
                if k not in done:
                    results.append(CallResult(self.name, k, "unsupported", f"harness: {e}",
                                              stmts[k].text))
        finally:
            self.cleanup(roles)
        return results

    def step(self, text: str, remaining: bool) -> str:
        """Runs one statement of the file in autocommit, emulating its transaction control."""
        assert self.psql
        n = norm(text)
        kind = next((name for name, rx in TXN_RE.items() if rx.match(n)), None)
        if kind == "begin":
            self.begin_at = len(self.history)
            self.savepoints.clear()
        elif kind in ("commit", "rollback"):
            for r in self.local_resets:
                self.psql.run(r)
                self.history.append(r)
            self.local_resets.clear()
            if kind == "rollback" and self.begin_at is not None:
                del self.history[self.begin_at:]
                if remaining:
                    self.fresh(self.history)
            self.begin_at = None
            self.savepoints.clear()
        elif kind == "savepoint":
            self.savepoints[TXN_RE["savepoint"].match(n).group(1)] = len(self.history)
        elif kind == "rollback_to":
            name = TXN_RE["rollback_to"].match(n).group(4)
            if name in self.savepoints:
                del self.history[self.savepoints[name]:]
                if remaining:
                    self.fresh(self.history)
        if kind:
            return ""
        sql = text
        m = re.match(r"^(\s*(?:--[^\n]*\n\s*)*)set\s+local\s+", sql, re.I)
        if m:
            sql = sql[: m.start()] + m.group(1) + "set " + sql[m.end():]
            target = re.match(r"set\s+(\S+)", norm(sql))
            if target and self.begin_at is not None:
                name = target.group(1)
                self.local_resets.append("reset role;" if name == "role" else f"reset {name};")
        if is_resolve(sql):
            self.before_resolve()
        elif not READ_OR_DATA.match(n):
            self.dirty = True
        got = self.psql.run(sql)
        self.history.append(sql)
        return got

    def compare(self, k: int, stmt: str, exp_text: str, got_text: str) -> CallResult:
        exp, got = parse_psql(exp_text), parse_psql(got_text)
        res = CallResult(self.name, k, "pass", "", stmt, exp_text, got_text)
        if "REPLAY-HARNESS" in got_text:
            res.status, res.category = "unsupported", "harness: pgbase call failed"
        elif exp == got:
            pass
        else:
            res.status, res.category = "fail", first_difference(exp, got)
        return res


# ----------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", help="directory holding sql/, expected/ and fixtures.sql "
                    "(default: extract test/ from the mirror into a temp dir)")
    ap.add_argument("--mirror", default=MIRROR)
    ap.add_argument("--pgbase", default=str(Path(__file__).resolve().parents[2] /
                                            "target/debug/pgbase"))
    ap.add_argument("--only", nargs="*", help="test file names (without .sql) to run")
    ap.add_argument("--show", metavar="FILE", help="run one file and print every failing call")
    ap.add_argument("--json", metavar="PATH", help="write every call's result here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary cluster")
    args = ap.parse_args()

    # a SIGTERM unwinds like Ctrl-C, so the cluster and the servers are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="pgg_replay_"))
    os.chmod(work, 0o755)
    missing: list[str] = []
    if args.suite:
        suite = Path(args.suite)
    else:
        missing = extract_from_mirror(args.mirror, work / "upstream")
        suite = work / "upstream" / "test"
    names = sorted(p.stem for p in (suite / "sql").glob("*.sql"))
    missing_sql = sorted({Path(m).stem for m in missing if m.startswith("test/sql/")})
    if args.show:
        names = [args.show.removesuffix(".sql")]
    elif args.only:
        names = [n.removesuffix(".sql") for n in args.only]

    pg_bin = find_pg_bin()
    cluster = Cluster(work, pg_bin)
    results: list[CallResult] = []
    try:
        cluster.psql("postgres", "create database replay_template")

        empty = work / "project"
        (empty / "migrations").mkdir(parents=True)
        subprocess.run([args.pgbase, "migrate", "--dir", str(empty), "--db-url",
                        cluster.url("replay_template"), "up"], check=True, capture_output=True)
        cluster.psql("postgres", f"create role {SUPER_ROLE} superuser nologin; "
                     f"grant {SUPER_ROLE} to authenticator")
        call = work / "call.py"
        call.write_text(CALL_PY.replace("__CONF__", repr(str(work / "conf.json"))))
        os.chmod(call, 0o755)
        fixtures_text = (suite / "fixtures.sql").read_text()
        fixtures = [s.text for s in split_sql(fixtures_text)
                    if not re.match(r"^(drop|create) extension", norm(s.text))]
        env = Env(args.pgbase, cluster, work, pg_bin, fixtures)
        for ordinal, name in enumerate(names):
            sql_path = suite / "sql" / f"{name}.sql"
            out_path = suite / "expected" / f"{name}.out"
            if not sql_path.exists():
                continue
            sql_text = sql_path.read_text()
            out_text = out_path.read_text() if out_path.exists() else None
            t0 = time.time()
            file_results = FileRun(env, name, ordinal).run(sql_text, out_text)
            results.extend(file_results)
            npass = sum(r.status == "pass" for r in file_results)
            print(f"{name:45s} {npass:3d}/{len(file_results):3d}  ({time.time() - t0:.1f}s)",
                  file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            cluster.stop()
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)

    if args.show:
        for r in results:
            if r.status != "pass":
                print(f"=== {r.file} statement #{r.index}: {r.status} ({r.category})")
                print(r.statement.strip())
                print("--- expected (pg_graphql)")
                print(r.expected)
                print("+++ got (pgbase)")
                print(r.got)
                print()

    files = len(names)
    with_calls = len({r.file for r in results})
    total = len(results)
    passed = sum(r.status == "pass" for r in results)
    unsupported = [r for r in results if r.status == "unsupported"]
    replayed = total - len(unsupported)
    cats: dict[str, int] = {}
    for r in results:
        if r.status == "fail":
            cats[r.category] = cats.get(r.category, 0) + 1
    missing_out = sorted(Path(m).stem for m in missing if m.startswith("test/expected/"))
    print(f"test files: {files} ({with_calls} call graphql.resolve); blobs missing in the "
          f"mirror: sql {', '.join(missing_sql) or '-'}; expected {', '.join(missing_out) or '-'}")
    print(f"resolve calls: {total} (statements calling graphql.resolve)")
    print(f"passing: {passed} = {100 * passed / max(total, 1):.1f}% of all, "
          f"{100 * passed / max(replayed, 1):.1f}% of the {replayed} replayed")
    print(f"failing: {total - passed - len(unsupported)}")
    for c, n in sorted(cats.items(), key=lambda x: -x[1]):
        print(f"  {c}: {n}")
    print(f"not replayed (harness): {len(unsupported)}")
    ucats: dict[str, int] = {}
    for r in unsupported:
        ucats[r.category] = ucats.get(r.category, 0) + 1
    for c, n in sorted(ucats.items(), key=lambda x: -x[1]):
        print(f"  {c}: {n}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
