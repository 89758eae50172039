// .single() and .maybeSingle(): objects instead of arrays, PGRST116 for 0 or several rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anon, ok, uniq } from './helpers.mjs';

test('single() with one row: the object', async () => {
  const res = await anon.from('books').select('id, title, authors(name)').eq('id', 4).single();
  assert.equal(res.error, null);
  assert.equal(res.status, 200);
  assert.deepEqual(res.data, { id: 4, title: 'Solaris', authors: { name: 'Stanisław Lem' } });
});

test('single() with 0 rows: PGRST116, 406, "The result contains 0 rows"', async () => {
  const res = await anon.from('books').select('id').eq('id', 999).single();
  assert.equal(res.data, null);
  assert.equal(res.status, 406);
  assert.deepEqual(res.error, {
    code: 'PGRST116',
    // PostgREST 12's wording (v13 changed it to "Cannot coerce the result to a single JSON object").
    message: 'JSON object requested, multiple (or no) rows returned',
    details: 'The result contains 0 rows',
    hint: null,
  });
});

test('single() with several rows: PGRST116, 406, "The result contains 3 rows"', async () => {
  const res = await anon.from('books').select('id').eq('author_id', 1).single();
  assert.equal(res.data, null);
  assert.equal(res.status, 406);
  assert.equal(res.error?.code, 'PGRST116');
  assert.equal(res.error.details, 'The result contains 3 rows');
});

test('maybeSingle() with one row: the object', async () => {
  const data = ok(await anon.from('authors').select('name').eq('id', 3).maybeSingle());
  assert.deepEqual(data, { name: 'Octavia E. Butler' });
});

test('maybeSingle() with 0 rows: data null and no error', async () => {
  const res = await anon.from('authors').select('name').eq('id', 999).maybeSingle();
  assert.equal(res.error, null);
  assert.equal(res.data, null);
});

test('maybeSingle() with several rows: PGRST116 error', async () => {
  const res = await anon.from('authors').select('name').eq('country', 'US').maybeSingle();
  assert.equal(res.data, null);
  assert.equal(res.error?.code, 'PGRST116');
  assert.match(res.error.details, /2 rows/);
});

test('update().select().maybeSingle() matching nothing: data null, no error', async () => {
  // on writes postgrest-js sends vnd.pgrst.object+json and relies on the server's
  // details "The result contains 0 rows" to turn the 406 into data: null
  const res = await anon.from('items').update({ name: 'x' }).eq('sku', uniq('nothing')).select().maybeSingle();
  assert.equal(res.error, null);
  assert.equal(res.data, null);
});

test('update().select().single() on several rows fails and rolls the update back', async () => {
  const p = uniq('single-rb');
  ok(await anon.from('items').insert([{ sku: `${p}-1`, name: 'a' }, { sku: `${p}-2`, name: 'b' }]));
  const res = await anon.from('items').update({ name: 'changed' }).like('sku', `${p}-*`).select().single();
  assert.equal(res.status, 406);
  assert.equal(res.error?.code, 'PGRST116');
  assert.equal(res.error.details, 'The result contains 2 rows');
  const rows = ok(await anon.from('items').select('name').like('sku', `${p}-*`).order('sku'));
  assert.deepEqual(rows, [{ name: 'a' }, { name: 'b' }], 'the failed singular update must be rolled back');
});
