// Shared setup for the SaaS example's e2e tests (run by ../saas.sh): supabase-js clients for
// the server it started, users that sign up for real, `pgbase sql` for what only the database
// owner may do, the dev mail sink, and polling with an upper bound instead of fixed sleeps.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createClient } from '@supabase/supabase-js';
// Node 20 has no global WebSocket; supabase-js's realtime client needs one at construction.
import ws from 'ws';

const run = promisify(execFile);

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through e2e/saas.sh`);
  return value;
}

export const url = env('PGBASE_URL');
export const anonKey = env('PGBASE_ANON_KEY');
const bin = env('PGBASE_BIN');
const dir = env('PGBASE_DIR');

const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: ws },
};

/** A name no other test run uses. */
export function uniq(prefix) {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Asserts a supabase-js result has no error and returns its data. */
export function ok(result) {
  if (result.error) {
    const e = new Error(`unexpected error (status ${result.status}): ${JSON.stringify(result.error)}`);
    e.result = result;
    throw e;
  }
  return result.data;
}

/**
 * Signs a new user up through /auth/v1 and returns
 * { email, id, token, client } — client is a supabase-js client signed in as that user.
 */
export async function signUp(name) {
  const email = `${uniq(name)}@example.com`.toLowerCase();
  const client = createClient(url, anonKey, options);
  const data = ok(await client.auth.signUp({
    email,
    password: 'secret-password-1',
    options: { data: { display_name: name } },
  }));
  if (!data.session) throw new Error(`sign-up of ${email} returned no session`);
  return { email, id: data.user.id, token: data.session.access_token, client };
}

/**
 * Runs SQL through `pgbase sql --json` as the database owner (the role the migrations and the
 * cron jobs run as) and returns the rows of the last result, values as text.
 */
export async function sql(query) {
  try {
    const { stdout } = await run(bin, ['sql', query, '--json', '--dir', dir], { maxBuffer: 16 << 20 });
    // `sql --json` gives JSON types; these tests compare values as Postgres prints them.
    const text = (v) => (v === null ? null : typeof v === 'boolean' ? (v ? 't' : 'f')
      : typeof v === 'object' ? JSON.stringify(v) : String(v));
    return stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => Object.fromEntries(
      Object.entries(JSON.parse(line)).map(([k, v]) => [k, text(v)])));
  } catch (error) {
    throw new Error(`pgbase sql failed: ${error.stderr || error.message}\n${query}`);
  }
}

/** A SQL string literal. */
export function lit(text) {
  return `'${String(text).replaceAll("'", "''")}'`;
}

/** POSTs a GraphQL document as the user with this access token; returns the parsed body. */
export async function graphql(token, query, variables = {}) {
  const response = await fetch(`${url}/graphql/v1`, {
    method: 'POST',
    headers: { apikey: anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: await response.json() };
}

/** The dev mail sink of the server under test. */
export const sink = {
  url: `${url}/dev/mail`,
  async list(to) {
    const query = to ? `?to=${encodeURIComponent(to)}` : '';
    const response = await fetch(`${url}/dev/mail${query}`);
    if (response.status !== 200) throw new Error(`GET /dev/mail answered ${response.status}`);
    return response.json();
  },
  async clear() {
    const response = await fetch(`${url}/dev/mail`, { method: 'DELETE' });
    if (response.status !== 200) throw new Error(`DELETE /dev/mail answered ${response.status}`);
  },
  /** Makes every POST answer `status` (null: answer normally). */
  async failWith(status) {
    const response = await fetch(`${url}/dev/mail/fail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status }),
    });
    if (response.status !== 200) throw new Error(`POST /dev/mail/fail answered ${response.status}`);
    return response.json();
  },
  /** Makes every POST wait `ms` milliseconds before it answers (null: answer at once). */
  async delay(ms) {
    const response = await fetch(`${url}/dev/mail/fail`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ delay_ms: ms }),
    });
    if (response.status !== 200) throw new Error(`POST /dev/mail/fail answered ${response.status}`);
    return response.json();
  },
  /** { status, delay_ms, rejected, duplicates } */
  async counters() {
    return (await fetch(`${url}/dev/mail/fail`)).json();
  },
};

/**
 * Calls `probe` until `until(value)` holds for the value it returns, and returns that value;
 * fails naming `what` and the last value seen once `timeoutMs` has passed.
 */
export async function waitFor(what, probe, until = Boolean, { timeoutMs = 30000, intervalMs = 150 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (until(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `pgbase advisors --json` over the example's database: the lint findings. */
export async function advisors() {
  try {
    const { stdout } = await run(bin, ['advisors', '--json', '--dir', dir], { maxBuffer: 16 << 20 });
    return JSON.parse(stdout);
  } catch (error) {
    throw new Error(`pgbase advisors failed: ${error.stderr || error.message}`);
  }
}
