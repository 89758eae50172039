// Shared setup for the e2e tests: supabase-js clients for the server started by run.sh.
import { createClient } from '@supabase/supabase-js';
// Node 20 has no global WebSocket; supabase-js's realtime client needs one at construction.
import ws from 'ws';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through ./run.sh`);
  return value;
}

export const url = env('PGBASE_URL');
export const anonKey = env('PGBASE_ANON_KEY');
export const serviceKey = env('PGBASE_SERVICE_KEY');

const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: ws },
};

/** A client with the anon key (requests run as the `anon` role). */
export const anon = createClient(url, anonKey, options);
/** A client with the service_role key (bypasses RLS). */
export const service = createClient(url, serviceKey, options);

/** A unique prefix per test file run, so write tests never collide. */
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
