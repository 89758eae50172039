// Other request options supabase-js exposes: rollback(), maxAffected(), stripNulls(), explain(),
// head-only counts on rpc, textSearch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anon, ok, uniq } from './helpers.mjs';

test('rollback(): the insert returns its row but is not kept (Prefer: tx=rollback)', async () => {
  const sku = uniq('rollback');
  const res = await anon.from('items').insert({ sku, name: 'ghost' }).select('sku, name').rollback();
  assert.equal(res.error, null);
  assert.equal(res.status, 201);
  assert.deepEqual(res.data, [{ sku, name: 'ghost' }]);
  assert.deepEqual(ok(await anon.from('items').select('sku').eq('sku', sku)), []);
});

test('maxAffected(): an update touching more rows fails with PGRST124 and changes nothing', async () => {
  const p = uniq('maxaff');
  ok(await anon.from('items').insert([{ sku: `${p}-1`, name: p, qty: 1 }, { sku: `${p}-2`, name: p, qty: 1 }]));
  const res = await anon.from('items').update({ qty: 5 }).eq('name', p).maxAffected(1).select('sku');
  assert.equal(res.status, 400);
  assert.equal(res.data, null);
  assert.equal(res.error?.code, 'PGRST124');
  assert.equal(res.error.details, 'The query affects 2 rows');
  const rows = ok(await anon.from('items').select('qty').eq('name', p));
  assert.deepEqual(rows, [{ qty: 1 }, { qty: 1 }]);
});

test('maxAffected(): within the limit the write happens', async () => {
  const sku = uniq('maxaff-ok');
  ok(await anon.from('items').insert({ sku, name: 'one' }));
  const res = await anon.from('items').delete().eq('sku', sku).maxAffected(1).select('sku');
  assert.equal(res.error, null);
  assert.deepEqual(res.data, [{ sku }]);
});

test('stripNulls(): null fields are left out', async () => {
  const data = ok(await anon.from('books').select('id, genre').in('id', [1, 5]).order('id').stripNulls());
  assert.deepEqual(data, [{ id: 1, genre: 'fantasy' }, { id: 5 }]);
});

test('rpc with head: true and count: only the count', async () => {
  const res = await anon.rpc('books_by_country', { country_code: 'US' }, { head: true, count: 'exact' });
  assert.equal(res.error, null);
  assert.equal(res.data, null);
  assert.equal(res.count, 5);
});

test('textSearch on a text column', async () => {
  const data = ok(await anon.from('books').select('id').textSearch('title', 'wizard'));
  assert.deepEqual(data, [{ id: 1 }]);
});

test(
  'explain(): the query plan (db_plan_enabled is on in dev)',
  async () => {
    const text = await anon.from('books').select('id').eq('id', 1).explain();
    assert.equal(text.error, null);
    assert.equal(typeof text.data, 'string');
    assert.match(text.data, /Scan/);
    const json = await anon.from('books').select('id').eq('id', 1).explain({ format: 'json' });
    assert.equal(json.error, null);
    assert.ok(Array.isArray(json.data) && json.data[0]?.Plan, JSON.stringify(json.data));
  },
);
