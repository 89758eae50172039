// insert / upsert / update / delete, with and without .select(), and constraint errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anon, service, ok, uniq } from './helpers.mjs';

const strip = ({ id, created_at, ...rest }) => rest;

test('insert one row without select: 201 and no body', async () => {
  const sku = uniq('plain');
  const res = await anon.from('items').insert({ sku, name: 'Plain' });
  assert.equal(res.error, null);
  assert.equal(res.status, 201);
  assert.equal(res.data, null);
  const rows = ok(await anon.from('items').select('sku, name, qty').eq('sku', sku));
  assert.deepEqual(rows, [{ sku, name: 'Plain', qty: 0 }]);
});

test('insert one row with .select(): the row with defaults filled in', async () => {
  const sku = uniq('one');
  const res = await anon.from('items').insert({ sku, name: 'Widget', qty: 3 }).select();
  assert.equal(res.error, null);
  assert.equal(res.status, 201);
  assert.equal(res.data.length, 1);
  const [row] = res.data;
  assert.deepEqual(strip(row), { sku, name: 'Widget', qty: 3, note: null });
  assert.equal(typeof row.id, 'number');
  assert.ok(!Number.isNaN(Date.parse(row.created_at)), `created_at: ${row.created_at}`);
});

test('insert with .select(columns).single()', async () => {
  const sku = uniq('single');
  const row = ok(await anon.from('items').insert({ sku, name: 'Gadget' }).select('sku, qty').single());
  assert.deepEqual(row, { sku, qty: 0 });
});

test('bulk insert with rows of different keys (columns=): missing keys become null', async () => {
  const a = uniq('bulk-a');
  const b = uniq('bulk-b');
  const rows = ok(
    await anon
      .from('items')
      .insert([
        { sku: a, name: 'A', qty: 1 },
        { sku: b, name: 'B', qty: 2, note: 'only b has a note' },
      ])
      .select('sku, name, qty, note')
      .order('sku'),
  );
  assert.deepEqual(rows, [
    { sku: a, name: 'A', qty: 1, note: null },
    { sku: b, name: 'B', qty: 2, note: 'only b has a note' },
  ]);
});

test('bulk insert: a missing key is null by default, so a NOT NULL column with a default fails', async () => {
  // PostgREST semantics: without Prefer: missing=default the key is inserted as null
  const res = await anon.from('items').insert([
    { sku: uniq('null-a'), name: 'A', qty: 1 },
    { sku: uniq('null-b'), name: 'B' },
  ]);
  assert.equal(res.status, 400);
  assert.equal(res.error?.code, '23502');
  assert.match(res.error.message, /null value in column "qty"/);
});

test('bulk insert with defaultToNull: false (Prefer: missing=default) uses the column defaults', async () => {
  const a = uniq('dflt-a');
  const b = uniq('dflt-b');
  const rows = ok(
    await anon
      .from('items')
      .insert(
        [
          { sku: a, name: 'A', qty: 1 },
          { sku: b, name: 'B', note: 'no qty' },
        ],
        { defaultToNull: false },
      )
      .select('sku, qty, note')
      .order('sku'),
  );
  assert.deepEqual(rows, [
    { sku: a, qty: 1, note: null },
    { sku: b, qty: 0, note: 'no qty' },
  ]);
});

test('insert with embedding in the returned representation', async () => {
  // service_role may write the seed tables; roll back is not available, so use a new review id
  const id = 1000 + (process.pid % 1000);
  const res = await service
    .from('reviews')
    .insert({ id, book_id: 4, stars: 2, body: 'e2e' })
    .select('id, stars, books(title)');
  assert.equal(res.error, null);
  assert.deepEqual(res.data, [{ id, stars: 2, books: { title: 'Solaris' } }]);
  ok(await service.from('reviews').delete().eq('id', id));
});

test('duplicate key: error 23505 with status 409', async () => {
  const sku = uniq('dup');
  ok(await anon.from('items').insert({ sku, name: 'first' }));
  const res = await anon.from('items').insert({ sku, name: 'second' }).select();
  assert.equal(res.status, 409);
  assert.equal(res.data, null);
  assert.equal(res.error?.code, '23505');
  assert.match(res.error.message, /duplicate key value violates unique constraint "items_sku_key"/);
  assert.match(res.error.details, /Key \(sku\)=\(.+\) already exists/);
  const rows = ok(await anon.from('items').select('name').eq('sku', sku));
  assert.deepEqual(rows, [{ name: 'first' }]);
});

test('check and not-null violations: 23514 / 23502 with status 400', async () => {
  const bad = await anon.from('items').insert({ sku: uniq('neg'), name: 'neg', qty: -1 });
  assert.equal(bad.status, 400);
  assert.equal(bad.error?.code, '23514');
  const missing = await anon.from('items').insert({ sku: uniq('noname') });
  assert.equal(missing.status, 400);
  assert.equal(missing.error?.code, '23502');
});

test('upsert merges duplicates (on the primary key) and inserts new rows', async () => {
  const sku = uniq('ups');
  const [orig] = ok(await anon.from('items').insert({ sku, name: 'before', qty: 1 }).select('id'));
  const sku2 = uniq('ups-new');
  const res = await anon
    .from('items')
    .upsert([
      { id: orig.id, sku, name: 'after', qty: 2 },
      { id: orig.id + 100000, sku: sku2, name: 'new', qty: 5 },
    ])
    .select('id, sku, name, qty')
    .order('id');
  assert.equal(res.error, null);
  assert.equal(res.status, 201);
  assert.deepEqual(res.data, [
    { id: orig.id, sku, name: 'after', qty: 2 },
    { id: orig.id + 100000, sku: sku2, name: 'new', qty: 5 },
  ]);
});

test('upsert with onConflict on a unique column; all rows updated → 200', async () => {
  const sku = uniq('ups-sku');
  const [orig] = ok(await anon.from('items').insert({ sku, name: 'v1', qty: 1 }).select('id'));
  const res = await anon
    .from('items')
    .upsert({ sku, name: 'v2', qty: 7 }, { onConflict: 'sku' })
    .select('id, name, qty');
  assert.equal(res.error, null);
  assert.equal(res.status, 200, 'PostgREST 12 answers 200 when every row was updated');
  assert.deepEqual(res.data, [{ id: orig.id, name: 'v2', qty: 7 }]);
});

test('upsert with ignoreDuplicates leaves the existing row alone', async () => {
  const sku = uniq('ups-ign');
  ok(await anon.from('items').insert({ sku, name: 'kept', qty: 1 }));
  const res = await anon
    .from('items')
    .upsert({ sku, name: 'ignored', qty: 9 }, { onConflict: 'sku', ignoreDuplicates: true })
    .select();
  assert.equal(res.error, null);
  assert.deepEqual(res.data, []);
  assert.deepEqual(ok(await anon.from('items').select('name, qty').eq('sku', sku)), [{ name: 'kept', qty: 1 }]);
});

test('update with filters and .select(): only the matching rows change', async () => {
  const p = uniq('upd');
  ok(
    await anon.from('items').insert([
      { sku: `${p}-1`, name: 'one', qty: 1 },
      { sku: `${p}-2`, name: 'two', qty: 2 },
      { sku: `${p}-3`, name: 'three', qty: 3 },
    ]),
  );
  const res = await anon
    .from('items')
    .update({ note: 'bumped', qty: 10 })
    .like('sku', `${p}-*`)
    .gte('qty', 2)
    .select('sku, qty, note')
    .order('sku');
  assert.equal(res.error, null);
  assert.equal(res.status, 200);
  assert.deepEqual(res.data, [
    { sku: `${p}-2`, qty: 10, note: 'bumped' },
    { sku: `${p}-3`, qty: 10, note: 'bumped' },
  ]);
  const all = ok(await anon.from('items').select('sku, qty').like('sku', `${p}-*`).order('sku'));
  assert.deepEqual(all, [
    { sku: `${p}-1`, qty: 1 },
    { sku: `${p}-2`, qty: 10 },
    { sku: `${p}-3`, qty: 10 },
  ]);
});

test('update without select: 204, no body', async () => {
  const sku = uniq('upd-min');
  ok(await anon.from('items').insert({ sku, name: 'x' }));
  const res = await anon.from('items').update({ name: 'y' }).eq('sku', sku);
  assert.equal(res.error, null);
  assert.equal(res.status, 204);
  assert.equal(res.data, null);
  assert.deepEqual(ok(await anon.from('items').select('name').eq('sku', sku)), [{ name: 'y' }]);
});

test('update matching nothing returns []', async () => {
  const res = await anon.from('items').update({ name: 'nobody' }).eq('sku', uniq('missing')).select();
  assert.equal(res.error, null);
  assert.deepEqual(res.data, []);
});

test('update to a duplicate key: 23505 / 409', async () => {
  const a = uniq('upd-dup-a');
  const b = uniq('upd-dup-b');
  ok(await anon.from('items').insert([{ sku: a, name: 'a' }, { sku: b, name: 'b' }]));
  const res = await anon.from('items').update({ sku: a }).eq('sku', b).select();
  assert.equal(res.status, 409);
  assert.equal(res.error?.code, '23505');
});

test('delete with .select() returns the deleted rows; they are gone', async () => {
  const p = uniq('del');
  ok(
    await anon.from('items').insert([
      { sku: `${p}-1`, name: 'keep', qty: 1 },
      { sku: `${p}-2`, name: 'drop', qty: 2 },
      { sku: `${p}-3`, name: 'drop', qty: 3 },
    ]),
  );
  const res = await anon
    .from('items')
    .delete()
    .like('sku', `${p}-*`)
    .eq('name', 'drop')
    .select('sku, qty')
    .order('sku');
  assert.equal(res.error, null);
  assert.equal(res.status, 200);
  assert.deepEqual(res.data, [
    { sku: `${p}-2`, qty: 2 },
    { sku: `${p}-3`, qty: 3 },
  ]);
  const left = ok(await anon.from('items').select('sku').like('sku', `${p}-*`));
  assert.deepEqual(left, [{ sku: `${p}-1` }]);
});

test('delete without select: 204; with count exact the count of deleted rows', async () => {
  const p = uniq('del-count');
  ok(await anon.from('items').insert([{ sku: `${p}-1`, name: 'x' }, { sku: `${p}-2`, name: 'x' }]));
  const res = await anon.from('items').delete({ count: 'exact' }).like('sku', `${p}-*`);
  assert.equal(res.error, null);
  assert.equal(res.status, 204);
  assert.equal(res.count, 2);
  assert.deepEqual(ok(await anon.from('items').select('sku').like('sku', `${p}-*`)), []);
});

test('writes to a table anon may only read are refused: 42501', async () => {
  const res = await anon.from('authors').insert({ id: 98, name: 'Intruder' });
  assert.equal(res.data, null);
  assert.equal(res.error?.code, '42501');
  assert.match(res.error.message, /permission denied for table authors/);
  assert.deepEqual(ok(await anon.from('authors').select('id').eq('id', 98)), []);
});

test(
  'writes refused to the anon role answer 401, as PostgREST 12 does for the anon role',
  async () => {
    const res = await anon.from('authors').insert({ id: 99, name: 'Intruder' });
    assert.equal(res.status, 401);
    assert.equal(res.error?.code, '42501');
    assert.match(res.error.message, /permission denied for table authors/);
    const still = ok(await anon.from('authors').select('id').eq('id', 99));
    assert.deepEqual(still, []);
  },
);

test('update or delete without a filter: 400 (21000, as pg-safeupdate on Supabase), nothing changes', async () => {
  const sku = uniq('safe');
  ok(await anon.from('items').insert({ sku, name: 'kept', qty: 7 }));
  const count = async () => (await service.from('items').select('id', { count: 'exact', head: true })).count;
  const total = await count();
  assert.ok(total > 0);

  const del = await anon.from('items').delete();
  assert.equal(del.status, 400);
  assert.equal(del.error?.code, '21000');
  assert.equal(del.error?.message, 'DELETE requires a WHERE clause');
  assert.match(del.error?.hint ?? '', /\?id=eq\.1/);

  const upd = await anon.from('items').update({ name: 'everything' }).select();
  assert.equal(upd.status, 400);
  assert.equal(upd.error?.code, '21000');
  assert.equal(upd.error?.message, 'UPDATE requires a WHERE clause');

  // .limit() is not a filter (with an order, or it is PGRST109 first)
  const limited = await anon.from('items').delete().order('id').limit(1);
  assert.equal(limited.status, 400);
  assert.equal(limited.error?.code, '21000');

  assert.equal(await count(), total);
  assert.deepEqual(ok(await anon.from('items').select('name, qty').eq('sku', sku)), [{ name: 'kept', qty: 7 }]);

  // a filter matching every row on purpose is accepted
  const upd2 = await anon.from('items').update({ note: 'seen' }).not('id', 'is', null).eq('sku', sku);
  assert.equal(upd2.error, null);
  assert.equal(upd2.status, 204);
});
