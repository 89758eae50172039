// Error responses as supabase-js sees them: {code, message, details, hint} and the status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anon, service, url, anonKey } from './helpers.mjs';

function assertErrorShape(error) {
  assert.ok(error, 'an error object');
  for (const key of ['code', 'message', 'details', 'hint']) {
    assert.ok(key in error, `error has ${key}: ${JSON.stringify(error)}`);
  }
}

test('unknown table: PGRST205 404, hint names the closest table', async () => {
  const res = await anon.from('bookz').select();
  assert.equal(res.status, 404);
  assert.equal(res.data, null);
  assertErrorShape(res.error);
  assert.equal(res.error.code, 'PGRST205');
  assert.equal(res.error.message, "Could not find the table 'public.bookz' in the schema cache");
  assert.equal(res.error.hint, "Perhaps you meant the table 'public.books'");
});

test('unknown table on insert: PGRST205 404', async () => {
  const res = await anon.from('itemz').insert({ sku: 'x', name: 'x' });
  assert.equal(res.status, 404);
  assert.equal(res.error?.code, 'PGRST205');
  assert.match(res.error.hint ?? '', /public\.items/);
});

test('unknown column in select: 42703 400, hint names the closest column', async () => {
  const res = await anon.from('books').select('id, titel');
  assert.equal(res.status, 400);
  assertErrorShape(res.error);
  assert.equal(res.error.code, '42703');
  assert.match(res.error.message, /column books\.titel does not exist/);
  assert.match(res.error.hint ?? '', /title/);
});

test('unknown column in a filter: 42703 400', async () => {
  const res = await anon.from('books').select('id').eq('publised', 1968);
  assert.equal(res.status, 400);
  assert.equal(res.error?.code, '42703');
  assert.match(res.error.message, /publised/);
  assert.match(res.error.hint ?? '', /published/);
});

test('unknown column in an insert payload: PGRST204 400', async () => {
  const res = await anon.from('items').insert({ sku: 'never', name: 'x', colour: 'red' });
  assert.equal(res.status, 400);
  assertErrorShape(res.error);
  assert.equal(res.error.code, 'PGRST204');
  assert.match(res.error.message, /Could not find the 'colour' column of 'items' in the schema cache/);
});

test('unknown embedded relationship: PGRST200 400 with a hint', async () => {
  const res = await anon.from('books').select('id, authorz(name)');
  assert.equal(res.status, 400);
  assertErrorShape(res.error);
  assert.equal(res.error.code, 'PGRST200');
  assert.equal(res.error.message, "Could not find a relationship between 'books' and 'authorz' in the schema cache");
  assert.match(res.error.hint ?? '', /authors/);
});

test('malformed select: PGRST100 400', async () => {
  const res = await anon.from('books').select('id, authors(name');
  assert.equal(res.status, 400);
  assertErrorShape(res.error);
  assert.equal(res.error.code, 'PGRST100');
  assert.match(res.error.message, /failed to parse select parameter/);
});

test('malformed filter value for is: PGRST100 400', async () => {
  const res = await anon.from('books').select('id').filter('genre', 'is', 'maybe');
  assert.equal(res.status, 400);
  assert.equal(res.error?.code, 'PGRST100');
});

test('invalid input for the column type: 22P02 400', async () => {
  const res = await anon.from('books').select('id').eq('id', 'abc');
  assert.equal(res.status, 400);
  assertErrorShape(res.error);
  assert.equal(res.error.code, '22P02');
  assert.match(res.error.message, /invalid input syntax for type integer: "abc"/);
});

test('no privilege (anon on the RLS table notes): 42501', async () => {
  const res = await anon.from('notes').select();
  assert.equal(res.data, null);
  assertErrorShape(res.error);
  assert.equal(res.error.code, '42501');
  assert.match(res.error.message, /permission denied for table notes/);
});

test('no privilege without any key: 42501 401', async () => {
  const res = await fetch(`${url}/rest/v1/notes?select=*`);
  assert.equal(res.status, 401);
  const body = await res.json();
  assert.equal(body.code, '42501');
});

test(
  'no privilege under the anon key: 42501 401 (PostgREST 12: 401 when the role is the anon role)',
  async () => {
    const res = await anon.from('notes').select();
    assert.equal(res.status, 401);
    assert.equal(res.data, null);
    assertErrorShape(res.error);
    assert.equal(res.error.code, '42501');
    assert.match(res.error.message, /permission denied for table notes/);
  },
);

test('service_role bypasses RLS on notes', async () => {
  const user = '00000000-0000-4000-8000-000000000001';
  const ins = await service.from('notes').insert({ user_id: user, body: 'from service' }).select('user_id, body');
  assert.equal(ins.error, null);
  assert.deepEqual(ins.data, [{ user_id: user, body: 'from service' }]);
  const res = await service.from('notes').select('body').eq('user_id', user);
  assert.equal(res.error, null);
  assert.ok(res.data.some((n) => n.body === 'from service'));
});

test('a tampered JWT is rejected: PGRST301 401', async () => {
  const [h, p] = anonKey.split('.');
  const res = await fetch(`${url}/rest/v1/books?select=id`, {
    headers: { apikey: anonKey, Authorization: `Bearer ${h}.${p}.c2lnbmF0dXJl` },
  });
  assert.equal(res.status, 401);
  const body = await res.json();
  assert.equal(body.code, 'PGRST301');
});

test('Content-Range is exposed to browsers (CORS preflight)', async () => {
  const res = await fetch(`${url}/rest/v1/books`, {
    method: 'OPTIONS',
    headers: {
      Origin: 'http://localhost:3000',
      'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'apikey,authorization,x-client-info,accept-profile,prefer',
    },
  });
  assert.ok(res.status === 200 || res.status === 204, `status ${res.status}`);
  const allowHeaders = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
  for (const h of ['apikey', 'authorization', 'x-client-info', 'accept-profile', 'prefer']) {
    assert.ok(allowHeaders.includes(h) || allowHeaders === '*', `allow-headers has ${h}: ${allowHeaders}`);
  }
  const get = await fetch(`${url}/rest/v1/books?select=id&limit=1`, {
    headers: { Origin: 'http://localhost:3000', apikey: anonKey },
  });
  assert.match(get.headers.get('access-control-expose-headers') ?? '', /Content-Range/i);
});
