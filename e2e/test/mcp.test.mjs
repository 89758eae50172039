// `pgbase mcp` driven by the official MCP TypeScript SDK over stdio, against the `pgbase dev`
// project run.sh started: tools are listed, a table is created through a migration, rows are
// inserted, two users see different rows under RLS, explain reads a seq scan and suggests an
// index, api_request calls REST, advisors fire on an open table, generated types type-check a
// supabase-js program (and refuse a wrong column), and the running server's /mcp (service key
// only) applies a migration. Prints the p50 latency of a one-row `query`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const BIN = process.env.PGBASE_BIN;
const DIR = process.env.PGBASE_E2E_DIR ?? process.env.PGBASE_DIR;
if (!BIN || !DIR) throw new Error('PGBASE_BIN and PGBASE_E2E_DIR are not set: run through ./run.sh');

const USER_A = 'a0000000-0000-4000-8000-00000000000a';
const USER_B = 'b0000000-0000-4000-8000-00000000000b';
const E2E_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

let client;

before(async () => {
  client = new Client({ name: 'pgbase-e2e', version: '1.0.0' });
  const transport = new StdioClientTransport({
    command: BIN,
    args: ['mcp', '--dir', DIR],
    env: { ...process.env, RUST_LOG: 'warn' },
    stderr: 'inherit',
  });
  await client.connect(transport);
});

after(async () => {
  await client?.close();
});

/** Calls a tool and returns its parsed JSON (or text); throws on isError unless allowed. */
async function call(name, args = {}, { allowError = false } = {}) {
  const result = await client.callTool({ name, arguments: args });
  const text = result.content.map((c) => c.text ?? '').join('');
  if (result.isError && !allowError) throw new Error(`${name} failed: ${text}`);
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  return { isError: !!result.isError, value, text };
}

async function waitFor(check, what) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('lists the tools with schemas and descriptions', async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  for (const name of ['query', 'explain', 'describe', 'list_migrations', 'migration_create', 'migration_apply',
    'api_request', 'check_policies', 'advisors', 'generate_types', 'logs']) {
    assert.ok(names.includes(name), `missing tool ${name} in ${names}`);
  }
  const query = tools.find((t) => t.name === 'query');
  assert.ok(query.description.includes('row-level security'));
  assert.equal(query.inputSchema.type, 'object');
  assert.ok(query.inputSchema.properties.user_id);
});

test('builds a table through a migration, then RLS, explain and the API behave', async () => {
  const created = await call('migration_create', {
    name: 'mcp_notes',
    sql: `create table public.mcp_notes (
  id bigint generated always as identity primary key,
  owner uuid not null,
  kind int not null,
  body text not null
);
alter table public.mcp_notes enable row level security;
create policy mcp_notes_own on public.mcp_notes for select to authenticated using (owner = (select auth.uid()));
grant select on public.mcp_notes to authenticated;
revoke all on public.mcp_notes from anon;`,
  });
  assert.match(created.value.created, /migrations\/\d{14}_mcp_notes\.sql$/);
  const applied = await call('migration_apply');
  assert.ok(!applied.isError);
  const listed = await call('list_migrations');
  assert.ok(listed.value.some((m) => m.file.endsWith('_mcp_notes.sql') && m.state === 'applied'), listed.text);

  // pgbase dev may have applied it already; either way the table is there.
  await waitFor(async () => !(await call('query', { sql: 'select 1 from public.mcp_notes limit 1' }, { allowError: true })).isError,
    'mcp_notes');
  await call('query', {
    sql: `insert into public.mcp_notes (owner, kind, body)
          select case when g % 3 = 0 then '${USER_B}'::uuid else '${USER_A}'::uuid end, g % 100, 'note ' || g
            from generate_series(1, 3000) g;
          analyze public.mcp_notes;`,
  });

  const a = await call('query', { sql: 'select count(*) as n from public.mcp_notes', user_id: USER_A });
  const b = await call('query', { sql: 'select count(*) as n from public.mcp_notes', user_id: USER_B });
  assert.equal(a.value.rows[0].n, 2000);
  assert.equal(b.value.rows[0].n, 1000);

  const probe = await call('check_policies', { table: 'mcp_notes', action: 'select', as: [USER_A, USER_B], filter: { kind: 3 } });
  assert.equal(probe.value.length, 2);
  assert.notEqual(probe.value[0].row_count, probe.value[1].row_count);

  const plan = await call('explain', { sql: 'select * from public.mcp_notes where kind = 42' });
  assert.ok(plan.value.notes.some((n) => n.includes('Seq Scan') && n.includes('mcp_notes')), plan.text);
  assert.deepEqual(plan.value.suggested_indexes, ['create index on "public"."mcp_notes" ("kind");']);

  const error = await call('query', { sql: 'select bdy from public.mcp_notes' }, { allowError: true });
  assert.ok(error.isError);
  assert.equal(error.value.error.code, '42703');
  assert.deepEqual(error.value.error.did_you_mean, ['body']);

  await waitFor(async () => {
    const r = await call('api_request', { method: 'GET', path: '/rest/v1/mcp_notes?select=id&limit=1', as: USER_A });
    return r.value.status === 200;
  }, 'the REST route of mcp_notes');
  const rest = await call('api_request', {
    method: 'GET', path: '/rest/v1/mcp_notes?select=owner&kind=eq.1', as: USER_B, headers: { Prefer: 'count=exact' },
  });
  assert.equal(rest.value.status, 200);
  assert.ok(rest.value.body.every((r) => r.owner === USER_B));
  const anon = await call('api_request', { method: 'GET', path: '/rest/v1/mcp_notes' });
  assert.equal(anon.value.status, 401);

  const described = await call('describe', { table: 'mcp_notes' });
  assert.ok(described.text.includes('/rest/v1/mcp_notes') && described.text.includes('mcp_notesCollection'), described.text);
});

test('p50 latency of a one-row query over stdio', async () => {
  const samples = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    const r = await call('query', { sql: 'select 1 as one' });
    samples.push(performance.now() - t0);
    assert.equal(r.value.rows[0].one, 1);
  }
  samples.sort((x, y) => x - y);
  const p50 = samples[Math.floor(samples.length / 2)];
  const p90 = samples[Math.floor(samples.length * 0.9)];
  console.log(`mcp query one-row latency over stdio: p50 ${p50.toFixed(2)} ms, p90 ${p90.toFixed(2)} ms (200 calls)`);
});

test('advisors report a table the API can reach without RLS', async () => {
  await call('query', { sql: 'create table if not exists public.mcp_open (id int primary key)' });
  const r = await call('advisors');
  assert.ok(r.value.some((l) => l.name === 'rls_disabled_in_public' && JSON.stringify(l.metadata).includes('mcp_open')), r.text);
});

test('generated types type-check a supabase-js program, and catch a wrong column', async () => {
  const r = await call('generate_types');
  const dir = mkdtempSync(join(tmpdir(), 'pgbase-types-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(join(E2E_DIR, 'node_modules', '@supabase'), join(dir, 'node_modules', '@supabase'));
  writeFileSync(join(dir, 'database.types.ts'), r.text);
  writeFileSync(join(dir, 'app.ts'), `
import { createClient } from '@supabase/supabase-js';
import type { Database } from './database.types';
const supabase = createClient<Database>('http://localhost', 'key');
export async function notes(): Promise<string[]> {
  const { data } = await supabase.from('mcp_notes').select('body, kind').eq('kind', 3);
  return (data ?? []).map((n) => n.body + String(n.kind));
}
`);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'esnext', moduleResolution: 'bundler', target: 'es2022', skipLibCheck: true },
    files: ['app.ts'],
  }));
  const tsc = join(E2E_DIR, 'node_modules', '.bin', 'tsc');
  execFileSync(tsc, ['-p', dir], { stdio: 'inherit' });
  // The same program reading a column that does not exist must not compile.
  writeFileSync(join(dir, 'app.ts'), `
import { createClient } from '@supabase/supabase-js';
import type { Database } from './database.types';
const supabase = createClient<Database>('http://localhost', 'key');
export async function notes(): Promise<string[]> {
  const { data } = await supabase.from('mcp_notes').select('body');
  return (data ?? []).map((n) => n.bdy);
}
`);
  assert.throws(() => execFileSync(tsc, ['-p', dir], { stdio: 'pipe' }), (e) => /bdy/.test(`${e.stdout}${e.stderr}`));
});

test('the running dev server offers the tools at /mcp, migrations included, for the service key only', async () => {
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const url = new URL('/mcp', process.env.PGBASE_URL);
  const connect = async (key) => {
    const http = new Client({ name: 'pgbase-e2e-http', version: '1.0.0' });
    await http.connect(new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    }));
    return http;
  };
  await assert.rejects(connect(process.env.PGBASE_ANON_KEY), /401|Unauthorized|service_role/i);

  const http = await connect(process.env.PGBASE_SERVICE_KEY);
  try {
    const tools = (await http.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes('migration_apply') && tools.includes('query'), tools.join(','));
    const text = (r) => r.content.map((c) => c.text ?? '').join('');
    const created = await http.callTool({
      name: 'migration_create',
      arguments: { name: 'mcp_http_flags', sql: 'create table public.mcp_http_flags (id int primary key);' },
    });
    assert.ok(!created.isError, text(created));
    const applied = await http.callTool({ name: 'migration_apply', arguments: {} });
    assert.ok(!applied.isError, text(applied));
    const queried = await http.callTool({
      name: 'query',
      arguments: { sql: "select to_regclass('public.mcp_http_flags') is not null as present" },
    });
    assert.equal(JSON.parse(text(queried)).rows[0].present, true);
  } finally {
    await http.close();
  }
});
