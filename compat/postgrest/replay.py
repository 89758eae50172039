#!/usr/bin/env python3
"""Replay PostgREST v12.2.12's hspec request/response cases against pgbase's /rest/v1.

Python 3.11 standard library only; shells out to the PostgreSQL server binaries (initdb, pg_ctl,
psql) and to the pgbase binary. Upstream files are read from a directory given with --suite (the
upstream `test/spec` directory) or extracted from the local mirror at tag v12.2.12 into a
temporary directory; nothing upstream is copied into this repository. See README.md beside this.

How it works
- One private cluster per run (initdb as the `postgres` OS user when run as root); a template
  database prepared by `pgbase migrate`, then upstream's fixtures (database, roles, schema, jwt,
  jsonschema, privileges, data .sql) loaded into it.
- Each spec file's top-level bindings (`spec`, `disabledSpec`, ...) are mapped to the server
  configuration upstream's Main.hs gives them; groups whose configuration pgbase cannot express
  are reported as "not expressible" with the reason.
- Cases: every `get`/`post`/`put`/`patch`/`delete`/`options`/`request methodX path headers body`
  expression directly followed by `shouldRespondWith`; its id is file:line. The expectation is
  evaluated like hspec-wai does: a [json|..|] body compares as JSON, a string body byte-exact, a
  bare number is a status only, `matchStatus`/`matchHeaders` from the record. Expressions the
  harness cannot evaluate (variables, interpolation, helpers it does not know) are counted as
  "not replayed (harness)".
- Upstream runs every request in a transaction that is rolled back (db-tx-end rollback-all).
  Here every group gets a fresh clone of the template, and after any case that is not GET/HEAD/
  OPTIONS the database is re-cloned and `pgbase serve` restarted, so writes never leak.
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
from dataclasses import dataclass, field
from pathlib import Path

MIRROR = "/work/.mirror/PostgREST+postgrest/repo"
TAG = "v12.2.12"
SECRET = "reallyreallyreallyreallyverysafe"
OPS_TOKEN = "replay-ops-token"
FIXTURES = ["database.sql", "roles.sql", "schema.sql", "jwt.sql", "jsonschema.sql",
            "privileges.sql", "data.sql"]

# (file relative to test/spec, binding) -> extra environment; anything else runs with the base
# (upstream's baseCfg in test/spec/SpecHelper.hs)
BASE_ENV = {"PGBASE_DB_SCHEMAS": "test", "PGBASE_DB_ANON_ROLE": "postgrest_test_anonymous",
            "PGBASE_DB_MAX_ROWS": "0", "PGBASE_DB_SAFE_UPDATE": "false",
            "PGBASE_DB_PLAN_ENABLED": "false", "PGBASE_DB_AGGREGATES_ENABLED": "false",
            "PGBASE_APP_SETTINGS": "app_host=localhost;external_api_secret=0123456789abcdef",
            "PGBASE_DB_PRE_REQUEST": "test.switch_role",
            "PGBASE_DB_TX_END": "rollback-allow-override", "PGBASE_DB_EXTRA_SEARCH_PATH": ""}
GROUP_ENV = {
    ("Feature/Query/QueryLimitedSpec.hs", "spec"): {"PGBASE_DB_MAX_ROWS": "2"},
    ("Feature/Query/UnicodeSpec.hs", "spec"): {"PGBASE_DB_SCHEMAS": "تست"},
    ("Feature/Query/PlanSpec.hs", "spec"): {"PGBASE_DB_PLAN_ENABLED": "true"},
    ("Feature/Query/ErrorSpec.hs", "nonExistentSchema"): {"PGBASE_DB_SCHEMAS": "nonexistent"},
    ("Feature/Query/AggregateFunctionsSpec.hs", "allowed"): {"PGBASE_DB_AGGREGATES_ENABLED": "true"},
    ("Feature/RpcPreRequestGucsSpec.hs", "spec"): {"PGBASE_DB_PRE_REQUEST": "custom_headers"},
    # upstream's pre-request LOADs the pg-safeupdate library, which is not installed here;
    # pgbase's own db_safe_update refuses the same requests
    ("Feature/Query/PgSafeUpdateSpec.hs", "spec"):
        {"PGBASE_DB_PRE_REQUEST": "", "PGBASE_DB_SAFE_UPDATE": "true"},
    ("Feature/ExtraSearchPathSpec.hs", "spec"):
        {"PGBASE_DB_EXTRA_SEARCH_PATH": 'public,extensions,EXTRA "@/\\#~_-'},
}
NOT_EXPRESSIBLE = {
    ("Feature/Auth/NoAnonSpec.hs", "spec"): "no anonymous role (db-anon-role unset)",
    ("Feature/Auth/NoJwtSpec.hs", "spec"): "no JWT secret at all",
    ("Feature/Auth/BinaryJwtSecretSpec.hs", "spec"): "binary (base64-decoded) JWT secret",
    ("Feature/Auth/AudienceJwtSecretSpec.hs", "spec"): "binary (base64-decoded) JWT secret",
    ("Feature/Auth/AsymmetricJwtSpec.hs", "spec"): "JWT secret given as an inline RSA JWK",
    ("Feature/OpenApi/DisabledOpenApiSpec.hs", "spec"): "openapi-mode = disabled",
    ("Feature/OpenApi/IgnorePrivOpenApiSpec.hs", "spec"): "openapi-mode = ignore-privileges",
    ("Feature/OpenApi/ProxySpec.hs", "spec"): "openapi-server-proxy-uri",
    ("Feature/OpenApi/SecurityOpenApiSpec.hs", "spec"): "openapi-security-active",
    ("Feature/OpenApi/RootSpec.hs", "spec"): "db-root-spec",
    ("Feature/Query/PostGISSpec.hs", "spec"): "PostGIS is not installed on this machine",
    ("Feature/Query/MultipleSchemaSpec.hs", "spec"):
        "db-schemas includes a name with a comma-free but quoted-character schema "
        "'SPECIAL \"@/\\#~_-' (not tried)",
    ("Feature/ObservabilitySpec.hs", "spec"): "server-trace-header",
    ("Feature/Query/ServerTimingSpec.hs", "spec"): "server-timing-enabled",
    ("Feature/ConcurrentSpec.hs", "raceTest"): "concurrency test, not request/response",
}
# whole files: RollbackSpec's cases live in helpers (shouldPersistMutations, ...) that the three
# groups allowed/disallowed/forced share, each with its own db-tx-end configuration
FILE_NOT_EXPRESSIBLE = {
    "Feature/RollbackSpec.hs": "harness: its cases are helpers called with per-group arguments "
                               "(db_tx_end itself is covered by pgbase's own tests)",
}
# PostGIS is not installed here: the fixture objects built on its types do not exist
POSTGIS_OBJECTS = ("shops", "shop_bles", "lines", "get_shop", "get_shop_bles", "get_lines",
                   "get_line")
# cases that read what an earlier case committed (upstream keeps sequence increments and
# `Prefer: tx=commit` writes; here every write is undone by re-cloning the database)
STATEFUL = {
    "Feature/Query/RpcSpec.hs:710": "reads a sequence an earlier case advanced",
    "Feature/Query/ComputedRelsSpec.hs:125": "reads a row an earlier case committed (tx=commit)",
    "Feature/Query/ComputedRelsSpec.hs:131": "reads a row an earlier case committed (tx=commit)",
    "Feature/Query/UnicodeSpec.hs:27": "reads a row an earlier case inserted",
}

# ----------------------------------------------------------------------------------------------
# Haskell tokenizer and a tiny expression parser/evaluator for the spec files


@dataclass
class Tok:
    kind: str  # str qq num id op ( ) [ ] { } , =
    val: object
    pos: int


def hs_string(text: str, i: int) -> tuple[str, int]:
    out, i = [], i + 1
    esc = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "r": "\r", "&": ""}
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            d = text[i + 1]
            if d in esc:
                out.append(esc[d]); i += 2
            elif d.isspace():  # string gap
                j = text.index("\\", i + 1); i = j + 1
            elif d.isdigit():
                m = re.match(r"\d+", text[i + 1:]); out.append(chr(int(m.group(0)))); i += 1 + len(m.group(0))
            elif d == "x":
                m = re.match(r"[0-9a-fA-F]+", text[i + 2:]); out.append(chr(int(m.group(0), 16))); i += 2 + len(m.group(0))
            else:
                out.append(d); i += 2
        else:
            out.append(c); i += 1
    raise ValueError("unterminated string")


def tokenize(text: str) -> list[Tok]:
    toks, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("--", i) and not re.match(r"--+[!#$%&*+./<=>?@\\^|~:]", text[i:]):
            j = text.find("\n", i); i = n if j < 0 else j
        elif text.startswith("{-", i):
            j = text.find("-}", i); i = n if j < 0 else j + 2
        elif c == '"':
            s, i2 = hs_string(text, i); toks.append(Tok("str", s, i)); i = i2
        elif c == "[" and (m := re.match(r"\[([a-zA-Z]+)\|", text[i:])):
            j = text.find("|]", i + len(m.group(0)))
            toks.append(Tok("qq", (m.group(1), text[i + len(m.group(0)):j]), i)); i = j + 2
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:]); toks.append(Tok("str", m.group(1), i)); i += len(m.group(0))
        elif c.isdigit():
            m = re.match(r"\d+(\.\d+)?", text[i:]); toks.append(Tok("num", m.group(0), i)); i += len(m.group(0))
        elif c.isalpha() or c == "_":
            m = re.match(r"[A-Za-z_][A-Za-z0-9_']*(\.[A-Za-z_][A-Za-z0-9_']*)*", text[i:])
            toks.append(Tok("id", m.group(0), i)); i += len(m.group(0))
        elif c == "`":
            j = text.find("`", i + 1); toks.append(Tok("op", text[i + 1:j], i)); i = j + 1
        elif c in "()[]{},":
            toks.append(Tok(c, c, i)); i += 1
        else:
            m = re.match(r"[!#$%&*+./<=>?@\\^|~:\-]+", text[i:])
            if m:
                k = "=" if m.group(0) == "=" else "op"
                toks.append(Tok(k, m.group(0), i)); i += len(m.group(0))
            else:
                i += 1
    return toks


class Unsupported(Exception):
    pass


class Parser:
    def __init__(self, toks: list[Tok], k: int, text: str):
        self.t, self.k, self.text = toks, k, text
        self.col = self.column(toks[k].pos)
        self.start = k

    def column(self, pos: int) -> int:
        return pos - (self.text.rfind("\n", 0, pos) + 1)

    def new_statement(self, t: Tok) -> bool:
        """A token first on its line at or left of the case's column starts the next statement."""
        if t.pos < 0:
            return True
        head = self.text[self.text.rfind("\n", 0, t.pos) + 1 : t.pos]
        return head.strip() == "" and self.column(t.pos) <= self.col

    def peek(self):
        return self.t[self.k] if self.k < len(self.t) else Tok("eof", None, -1)

    def atom(self):
        t = self.peek()
        if self.k > self.start and self.new_statement(t):
            return None
        if t.kind in ("str", "qq", "num"):
            self.k += 1
            return (t.kind, t.val)
        if t.kind == "id" and self.k > self.start and t.val in VERBS:
            return None
        if t.kind == "id" and t.val not in ("do", "let", "in", "where", "it", "describe", "context",
                                            "when", "if", "then", "else", "case", "of"):
            self.k += 1
            return ("id", t.val)
        if t.kind == "(":
            self.k += 1
            items = [self.expr()]
            while self.peek().kind == ",":
                self.k += 1; items.append(self.expr())
            self.expect(")")
            return items[0] if len(items) == 1 else ("tuple", items)
        if t.kind == "[":
            self.k += 1
            items = []
            if self.peek().kind != "]":
                items.append(self.expr())
                while self.peek().kind == ",":
                    self.k += 1; items.append(self.expr())
            self.expect("]")
            return ("list", items)
        return None

    def expect(self, kind):
        if self.peek().kind != kind:
            raise Unsupported(f"expected {kind}")
        self.k += 1

    def app(self):
        a = self.atom()
        if a is None:
            raise Unsupported("expression")
        args = []
        while True:
            if self.peek().kind == "{":
                self.k += 1
                fields = {}
                while self.peek().kind == "id":
                    name = self.peek().val; self.k += 1; self.expect("="); fields[name] = self.expr()
                    if self.peek().kind == ",":
                        self.k += 1
                self.expect("}")
                a = ("record", a if not args else ("app", a, args), fields); args = []
                continue
            b = self.atom()
            if b is None:
                break
            args.append(b)
        return ("app", a, args) if args else a

    def expr(self, stop=()):
        left = self.app()
        while self.peek().kind == "op" and self.peek().val not in stop and self.peek().val not in ("$", "<-", "->", "shouldRespondWith", "shouldSatisfy", "shouldBe"):
            op = self.peek().val; self.k += 1
            left = ("op", op, left, self.app())
        return left


HEADER_NAMES = {"hContentType": "Content-Type", "hAccept": "Accept", "hAuthorization": "Authorization",
                "hRange": "Range", "hLocation": "Location", "hPrefer": "Prefer", "hOrigin": "Origin",
                "hAllow": "Allow", "hContentLength": "Content-Length", "hContentRange": "Content-Range",
                "hVary": "Vary", "hCacheControl": "Cache-Control", "hAcceptEncoding": "Accept-Encoding",
                "hContentEncoding": "Content-Encoding"}
METHODS = {f"method{m.capitalize()}": m for m in
           ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE")}


def unpipe(body: str) -> str:
    lines = body.split("\n")
    out = lines[:1]
    for k, line in enumerate(lines[1:], 1):
        head = line.lstrip(" \t")
        if head.startswith("|"):
            out.append(head[1:])
        elif k == len(lines) - 1 and not head:
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def ev(e):
    kind = e[0]
    if kind == "str":
        return e[1]
    if kind == "num":
        return int(e[1]) if e[1].isdigit() else float(e[1])
    if kind == "qq":
        name, body = e[1]
        if "#{" in body:
            raise Unsupported("interpolated quasi-quote")
        if name == "json":
            try:
                return ("json", json.loads(body))
            except ValueError:
                raise Unsupported("json quasi-quote not JSON")
        if name == "str":  # Text.Heredoc: margins up to a leading `|` trimmed, blank last line dropped
            return unpipe(body)
        if name == "r":
            return body
        raise Unsupported(f"quasi-quote {name}")
    if kind == "list":
        return [ev(x) for x in e[1]]
    if kind == "tuple":
        return tuple(ev(x) for x in e[1])
    if kind == "id":
        v = e[1]
        if v in METHODS:
            return ("method", METHODS[v])
        if v in HEADER_NAMES:
            return HEADER_NAMES[v]
        ct = {"matchContentTypeJson": "application/json; charset=utf-8",
              "matchContentTypeSingular": "application/vnd.pgrst.object+json; charset=utf-8",
              "matchCTArrayStrip": "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8",
              "matchCTSingularStrip": "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"}
        if v in ct:
            return ("mh", "ct", "Content-Type", ct[v])
        if v == "rangeUnit":
            return ("Range-Unit", "items")
        if v == "mempty":
            return ""
        if v in ("True", "False"):
            return v == "True"
        if v in LOCAL and LOCAL[v] is not None:
            e2, LOCAL[v] = LOCAL[v], None  # no recursion through a definition
            try:
                return ev(e2)
            finally:
                LOCAL[v] = e2
        raise Unsupported(f"identifier {v}")
    if kind == "op":
        _, op, l, r = e
        if op == "<:>":
            return ("mh", "eq", ev(l), ev(r))
        if op == ":":
            return [ev(l)] + ev(r)
        if op in ("<>", "++"):
            a, b = ev(l), ev(r)
            if isinstance(a, type(b)):
                return a + b
        raise Unsupported(f"operator {op}")
    if kind == "app":
        _, f, args = e
        if f[0] != "id":
            raise Unsupported("application")
        name, a = f[1], [ev(x) for x in args]
        if name == "authHeaderJWT":
            return ("Authorization", "Bearer " + a[0])
        if name == "authHeaderBasic":
            import base64
            return ("Authorization", "Basic " + base64.b64encode(f"{a[0]}:{a[1]}".encode()).decode())
        if name == "authHeader":
            return ("Authorization", f"{a[0]} {a[1]}")
        if name == "acceptHdrs":
            return [("Accept", a[0])]
        if name in ("ByteRangeFromTo", "ByteRangeFrom"):
            return f"{a[0]}-{a[1]}" if len(a) == 2 else f"{a[0]}-"
        if name == "rangeHdrs":
            return [("Range-Unit", "items"), ("Range", a[0])]
        if name == "rangeHdrsWithCount":
            return [("Prefer", "count=exact"), ("Range-Unit", "items"), ("Range", a[0])]
        if name == "matchHeaderAbsent":
            return ("mh", "absent", a[0], None)
        if name == "matchHeaderValuePresent":
            return ("mh", "contains", a[0], a[1])
        if name in ("toS", "encodeUtf8", "toUtf8", "BL.fromStrict", "fromStrict"):
            return a[0]
        raise Unsupported(f"function {name}")
    if kind == "record":
        _, base, fields = e
        b = ev(base)
        m = matcher_of(b)
        for k, v in fields.items():
            if k == "matchStatus":
                m["status"] = ev(v)
            elif k == "matchHeaders":
                m["headers"] = ev(v)
            elif k == "matchBody":
                raise Unsupported("custom body matcher")
        return ("matcher", m)
    raise Unsupported(kind)


# argument-less local definitions (`where`/`let`) nearest to the case being evaluated
LOCAL: dict[str, object] = {}


def local_definitions(toks: list[Tok], text: str) -> dict[str, list[tuple[int, object]]]:
    defs: dict[str, list[tuple[int, object]]] = {}
    for i in range(len(toks) - 2):
        t = toks[i]
        if t.kind != "id" or toks[i + 1].kind != "=" or "." in t.val:
            continue
        before = text[text.rfind("\n", 0, t.pos) + 1 : t.pos].strip()
        if before not in ("", "let", "where"):
            continue
        try:
            e = Parser(toks, i + 2, text).expr()
        except Unsupported:
            continue
        defs.setdefault(t.val, []).append((t.pos, e))
    return defs


def matcher_of(v) -> dict:
    if isinstance(v, tuple) and v[0] == "matcher":
        return dict(v[1])
    if isinstance(v, int):
        return {"status": v, "body": None, "headers": []}
    if isinstance(v, tuple) and v[0] == "json":
        return {"status": 200, "body": ("json", v[1]), "headers": []}
    if isinstance(v, str):
        return {"status": 200, "body": ("text", v), "headers": []}
    raise Unsupported("expectation")


VERBS = {"get": "GET", "post": "POST", "put": "PUT", "patch": "PATCH", "delete": "DELETE",
         "options": "OPTIONS", "request": None}


@dataclass
class Case:
    id: str
    group: str
    line: int
    request: dict | None = None
    expect: dict | None = None
    status: str = ""  # pass fail unexpressible unsupported
    reason: str = ""
    got: dict = field(default_factory=dict)


def bindings(text: str) -> list[tuple[str, int, int]]:
    """Top-level bindings: (name, start offset, end offset)."""
    starts = [(m.group(1), m.start()) for m in re.finditer(r"(?m)^([a-z][A-Za-z0-9_']*)\b[^\n]*=", text)
              if not re.match(r"(?m)^[a-z][A-Za-z0-9_']*\s*::", text[m.start():])]
    starts = [(n, p) for n, p in starts if not text[p:].startswith(("import", "module"))]
    out = []
    for k, (n, p) in enumerate(starts):
        out.append((n, p, starts[k + 1][1] if k + 1 < len(starts) else len(text)))
    return out


def extract(rel: str, text: str) -> list[Case]:
    toks = tokenize(text)
    binds = bindings(text)
    defs = local_definitions(toks, text)
    cases: list[Case] = []
    for k, t in enumerate(toks):
        if t.kind != "id" or t.val not in VERBS:
            continue
        prev = toks[k - 1] if k else None
        if prev is not None and prev.kind == "id" and prev.val not in ("do", "in", "then", "else", "of"):
            continue  # an argument of something else
        line = text.count("\n", 0, t.pos) + 1
        group = next((b[0] for b in binds if b[1] <= t.pos < b[2]), "?")
        p = Parser(toks, k, text)
        try:
            req_e = p.app()
        except Unsupported:
            continue
        nt = p.peek()
        if nt.kind != "op" or nt.val != "shouldRespondWith":
            continue
        p.k += 1
        LOCAL.clear()
        for name, ds in defs.items():
            # a `let` binds what follows it: the closest definition before the case, else
            # (a `where` below) the closest one after it
            # of the same top-level binding when it has one
            b = next((b for b in binds if b[1] <= t.pos < b[2]), None)
            mine = [d for d in ds if b and b[1] <= d[0] < b[2]] or ds
            before = [d for d in mine if d[0] < t.pos]
            LOCAL[name] = (max(before, key=lambda d: d[0]) if before
                           else min(mine, key=lambda d: abs(d[0] - t.pos)))[1]
        case = Case(f"{rel}:{line}", group, line)
        cases.append(case)
        try:
            exp_e = p.expr()
            _, _, args = req_e if req_e[0] == "app" else (None, None, [])
            vals = [ev(a) for a in args]
            if t.val == "request":
                if len(vals) != 4 or not (isinstance(vals[0], tuple) and vals[0][0] == "method"):
                    raise Unsupported("request arguments")
                method, path, headers, body = vals[0][1], vals[1], vals[2], vals[3]
            else:
                method, path = VERBS[t.val], vals[0]
                headers, body = [], (vals[1] if len(vals) > 1 else "")
            if isinstance(body, tuple) and body[0] == "json":
                body = json.dumps(body[1])
            if not isinstance(path, str) or not isinstance(body, str) or not isinstance(headers, list):
                raise Unsupported("request arguments")
            flat = []
            for h in headers:
                if isinstance(h, list):
                    flat.extend(h)
                else:
                    flat.append(h)
            case.request = {"method": method, "path": path, "headers": [list(h) for h in flat], "body": body}
            case.expect = matcher_of(ev(exp_e))
            lines_before = text[:t.pos].splitlines()[-3:]
            first = re.split(r"[/?]", path.lstrip("/").removeprefix("rpc/"))[0]
            if any(re.search(r"when \(actualPgVersion <", l) for l in lines_before):
                raise Unsupported("only run by upstream on an older Postgres")
            if first in POSTGIS_OBJECTS:
                case.status, case.reason = "unexpressible", "PostGIS is not installed on this machine"
            elif case.id in STATEFUL:
                case.status, case.reason = "unexpressible", "harness: " + STATEFUL[case.id]
            elif rel in FILE_NOT_EXPRESSIBLE:
                case.status, case.reason = "unexpressible", FILE_NOT_EXPRESSIBLE[rel]
        except (Unsupported, IndexError, ValueError, TypeError) as e:
            case.status, case.reason = "unsupported", f"harness: {e}"
    return cases


# ----------------------------------------------------------------------------------------------
# Cluster and server


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
        self.pg_bin, self.dir, self.port = pg_bin, work / "cluster", free_port()
        self.as_postgres = os.geteuid() == 0
        self.dir.mkdir(parents=True)
        if self.as_postgres:
            shutil.chown(work, "postgres"); shutil.chown(self.dir, "postgres")
        self._run([str(pg_bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                   "--auth=trust", "--nosync", "-E", "UTF8", "--locale=C"])
        opts = f"-p {self.port} -k {self.dir} -c fsync=off -c listen_addresses=127.0.0.1"
        self._run([str(pg_bin / "pg_ctl"), "-D", str(self.dir / "data"), "-o", opts, "-l",
                   str(self.dir / "log"), "-w", "start"])

    def _run(self, argv):
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        subprocess.run(argv, check=True, capture_output=True)

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def psql(self, db: str, sql: str, check=True) -> str:
        r = subprocess.run([str(self.pg_bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-d", self.url(db), "-c", sql], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout.strip()

    def stop(self):
        self._run([str(self.pg_bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"])


class Server:
    def __init__(self, pgbase: str, url: str, env_extra: dict, work: Path):
        self.port = free_port()
        env = dict(os.environ)
        env.update(BASE_ENV)
        env.update(env_extra)
        env.update({"DATABASE_URL": url, "PGBASE_PORT": str(self.port), "PGBASE_LISTEN": "127.0.0.1",
                    "PGBASE_JWT_SECRET": SECRET, "PGBASE_METRICS_TOKEN": OPS_TOKEN,
                    "PGBASE_JOBS": "false", "PGBASE_LOG_FORMAT": "json", "RUST_LOG": "warn"})
        self.log = open(work / "serve.log", "ab")
        self.proc = subprocess.Popen([pgbase, "serve"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=work)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbase serve exited ({self.proc.returncode}); see {work}/serve.log")
            try:
                r = urllib.request.Request(f"http://127.0.0.1:{self.port}/health",
                                           headers={"Authorization": f"Bearer {OPS_TOKEN}"})
                with urllib.request.urlopen(r, timeout=2) as resp:
                    if json.loads(resp.read())["schema_cache"].get("loaded"):
                        return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        raise RuntimeError("pgbase serve did not become healthy")

    def send(self, req: dict) -> dict:
        """Send like hspec-wai does: the given headers only (repeated names as separate header
        lines, no Content-Type when the case gives none: upstream then reads the body as JSON)."""
        import http.client
        path = req["path"]
        target = "/rest/v1" + (path if path.startswith("/") else "/" + path)
        # hspec-wai hands the raw path to the application; over HTTP, characters a URI may not
        # hold (`"<>\\^`{|}#`, space, `[]`) are percent-encoded, which PostgREST decodes alike
        target = urllib.parse.quote(target, safe=":/?&=%,.()*!'-_~+;@$")
        body = req["body"].encode() if req["body"] or req["method"] in ("POST", "PUT", "PATCH") else None
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(req["method"], target, skip_accept_encoding=True)
            for k, v in req["headers"]:
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return {"status": resp.status, "headers": list(resp.getheaders()),
                    "body": resp.read().decode("utf-8", "replace")}
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill(); self.proc.wait()
        self.log.close()


def compare(exp: dict, got: dict) -> str:
    """'' when the response matches; else the first difference."""
    if exp["status"] != got["status"]:
        return f"status {got['status']} != {exp['status']}"
    body = exp.get("body")
    if body is not None:
        if body[0] == "json":
            try:
                g = json.loads(got["body"]) if got["body"] else None
            except ValueError:
                return "body not JSON"
            if g != body[1]:
                return "body"
        elif body[1] != got["body"]:
            return "body (text)"
    hdrs = {}
    for k, v in got["headers"]:
        hdrs.setdefault(k.lower(), []).append(v)
    for m in exp.get("headers", []):
        if not (isinstance(m, tuple) and m[0] == "mh"):
            return "harness: header matcher"
        _, how, name, val = m
        have = hdrs.get(name.lower())
        if how == "absent":
            if have:
                return f"header {name} present"
        elif how == "ct":
            if not have or len(have) != 1 or have[0] != val:
                return f"header {name}: {have} != {val}"
        elif how == "contains":
            if not have or val not in have[0]:
                return f"header {name}: {have} lacks {val}"
        elif not have or val not in have:
            return f"header {name}: {have} != {val}"
    return ""


def deliberate(exp: dict, got: dict) -> str:
    """The README's "Deliberate differences" entry a failing case falls under, or ''."""
    e = exp.get("body")
    want = e[1] if e and e[0] == "json" else None
    try:
        have = json.loads(got.get("body") or "null")
    except ValueError:
        have = None
    if not isinstance(have, dict):
        return ""
    if (isinstance(want, dict) and want.get("code") == "42P01" and exp["status"] == 404
            and got["status"] == 404 and have.get("code") == "PGRST205"):
        return "an unknown table is PGRST205"
    if (isinstance(want, dict) and want.get("hint") is None and have.get("hint") is not None
            and exp["status"] == got["status"] and {**have, "hint": None} == want):
        return "pgbase adds a hint where v12 has none"
    if (isinstance(want, dict) and want.get("code") == "21000" and exp["status"] == got["status"]
            and {**have, "details": None, "hint": None} == want):
        return "the unfiltered-write refusal (21000) carries details and a hint"
    if exp["status"] == 500 and got["status"] == 400 and have.get("code") == "21000":
        return "a cardinality violation (21000) is 400"
    if (exp["status"] == 200 and got["status"] == 400 and have.get("code") == "PGRST100"
            and "end of input" in str(have.get("details"))):
        return "characters after a complete select / logic tree are refused (v12 ignores them)"
    return ""


# ----------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", help="upstream test/spec directory (default: the mirror at " + TAG + ")")
    ap.add_argument("--mirror", default=MIRROR)
    ap.add_argument("--pgbase", default=str(Path(__file__).resolve().parents[2] / "target/debug/pgbase"))
    ap.add_argument("--only", nargs="*", help="spec files (relative to test/spec, or a substring)")
    ap.add_argument("--show", metavar="FILE", help="run one spec file and print every failing case")
    ap.add_argument("--json", metavar="PATH", help="write every case's result here")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import urllib.parse  # noqa: F401  (used by Server.send)

    work = Path(tempfile.mkdtemp(prefix="pgrst_replay_"))
    os.chmod(work, 0o755)
    if args.suite:
        suite = Path(args.suite)
    else:
        suite = work / "spec"
        listing = subprocess.run(["git", "-C", args.mirror, "ls-tree", "-r", "--name-only", TAG, "test/spec"],
                                 check=True, capture_output=True, text=True).stdout.split()
        for p in listing:
            if p.endswith((".hs", ".sql")):
                out = work / p.removeprefix("test/")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(subprocess.run(["git", "-C", args.mirror, "show", f"{TAG}:{p}"],
                                               check=True, capture_output=True).stdout)
    files = sorted(str(p.relative_to(suite)) for p in (suite / "Feature").rglob("*.hs"))
    sel = [args.show] if args.show else args.only
    if sel:
        files = [f for f in files if any(s in f for s in sel)]

    all_cases: list[Case] = []
    for f in files:
        all_cases.extend(extract(f, (suite / f).read_text()))

    pg_bin = find_pg_bin()
    cluster = Cluster(work, pg_bin)
    try:
        cluster.psql("postgres", "create database replay_template")
        proj = work / "project"
        (proj / "migrations").mkdir(parents=True)
        subprocess.run([args.pgbase, "migrate", "--dir", str(proj), "--db-url",
                        cluster.url("replay_template"), "up"], check=True, capture_output=True)
        for fx in FIXTURES:
            r = subprocess.run([str(pg_bin / "psql"), "-X", "-q", "-v", "PGUSER=postgres", "-v",
                                "DBNAME=replay_template", "-d", cluster.url("replay_template"),
                                "-f", str(suite / "fixtures" / fx)], capture_output=True, text=True)
            errs = [l for l in r.stderr.splitlines() if "ERROR" in l]
            if errs:
                print(f"fixture {fx}: {len(errs)} errors, first: {errs[0]}", file=sys.stderr)
        cluster.psql("replay_template", "grant postgrest_test_anonymous, postgrest_test_default_role, "
                     "postgrest_test_author, postgrest_test_superuser to authenticator", check=False)
        # RangeSpec runs after ANALYZE of these two (count=planned reads their statistics)
        cluster.psql("replay_template", "analyze test.items; analyze test.child_entities", check=False)
        counter = [0]

        def fresh_server(env_extra):
            counter[0] += 1
            db = f"r{counter[0]}"
            cluster.psql("postgres", f"create database {db} template replay_template")
            return db, Server(args.pgbase, cluster.url(db), env_extra, work)

        def drop(db, srv):
            srv.stop()
            cluster.psql("postgres", f"drop database {db} with (force)", check=False)

        for f in files:
            t0 = time.time()
            fc = [c for c in all_cases if c.id.startswith(f + ":")]
            groups = sorted({c.group for c in fc})
            for g in groups:
                gc = [c for c in fc if c.group == g]
                reason = NOT_EXPRESSIBLE.get((f, g))
                if reason:
                    for c in gc:
                        if c.status != "unsupported":
                            c.status, c.reason = "unexpressible", reason
                    continue
                env_extra = GROUP_ENV.get((f, g), {})
                db, srv = fresh_server(env_extra)
                dirty = False
                try:
                    for c in gc:
                        if c.status in ("unsupported", "unexpressible"):
                            continue
                        if dirty:
                            drop(db, srv); db, srv = fresh_server(env_extra); dirty = False
                        try:
                            c.got = srv.send(c.request)
                        except Exception as e:  # noqa: BLE001 - a harness failure, reported
                            c.status, c.reason = "fail", f"no response: {e!r}"
                            dirty = True
                            continue
                        d = compare(c.expect, c.got)
                        c.status, c.reason = ("pass", "") if not d else ("fail", d)
                        if d and (why := deliberate(c.expect, c.got)):
                            c.status, c.reason = "deliberate", why
                        dirty = c.request["method"] not in ("GET", "HEAD", "OPTIONS") or "/rpc/" in c.request["path"]
                finally:
                    drop(db, srv)
            np = sum(c.status == "pass" for c in fc)
            nf = sum(c.status == "fail" for c in fc)
            nu = sum(c.status == "unexpressible" for c in fc)
            nh = sum(c.status == "unsupported" for c in fc)
            nd = sum(c.status == "deliberate" for c in fc)
            print(f"{f:48s} pass {np:4d} fail {nf:4d} deliberate {nd:2d} not-expressible {nu:4d} harness {nh:3d} ({time.time() - t0:.0f}s)",
                  file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            cluster.stop(); shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)

    if args.show:
        for c in all_cases:
            if c.status in ("fail", "unsupported", "deliberate"):
                print(f"=== {c.id} ({c.group}): {c.status}: {c.reason}")
                if c.request:
                    print(f"{c.request['method']} {c.request['path']} {c.request['headers']} {c.request['body'][:300]}")
                if c.expect:
                    e = c.expect
                    print(f"--- expected (PostgREST): {e['status']} {e.get('headers')}")
                    if e.get("body") is not None:
                        print(json.dumps(e["body"][1]) if e["body"][0] == "json" else repr(e["body"][1]))
                if c.got:
                    print(f"+++ got (pgbase): {c.got['status']} {dict(c.got['headers'])}")
                    print(c.got["body"][:2000])
                print()
    total = len(all_cases)
    p = sum(c.status == "pass" for c in all_cases)
    f_ = sum(c.status == "fail" for c in all_cases)
    u = sum(c.status == "unexpressible" for c in all_cases)
    h = sum(c.status == "unsupported" for c in all_cases)
    d = sum(c.status == "deliberate" for c in all_cases)
    print(f"cases: {total} in {len(files)} spec files")
    print(f"passing: {p} = {100 * p / max(p + f_, 1):.1f}% of the {p + f_} replayed "
          f"(deliberate differences left out; {100 * p / max(p + f_ + d, 1):.1f}% counting them as failures)")
    print(f"failing: {f_}")
    print(f"deliberate differences (README, 'Deliberate differences'): {d}")
    print(f"not expressible (configuration): {u}")
    print(f"not replayed (harness cannot evaluate the expression): {h}")
    if args.json:
        Path(args.json).write_text(json.dumps([c.__dict__ for c in all_cases], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
