// rpc(): scalar, set-returning with filters, void, composite, GET vs POST, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anon, ok, uniq } from './helpers.mjs';

test('scalar function with arguments (POST)', async () => {
  const res = await anon.rpc('add_numbers', { a: 2, b: 40 });
  assert.equal(res.error, null);
  assert.equal(res.status, 200);
  assert.equal(res.data, 42);
});

test('scalar function with arguments over GET', async () => {
  const res = await anon.rpc('add_numbers', { a: -5, b: 3 }, { get: true });
  assert.equal(res.error, null);
  assert.equal(res.data, -2);
});

test('scalar function without arguments', async () => {
  assert.equal(ok(await anon.rpc('hello')), 'hello from pgbase');
  assert.equal(ok(await anon.rpc('hello', {}, { get: true })), 'hello from pgbase');
});

test('setof table function: all rows', async () => {
  const data = ok(await anon.rpc('books_by_country', { country_code: 'PL' }).order('id'));
  assert.equal(data.length, 2);
  assert.deepEqual(
    data.map((b) => [b.id, b.title]),
    [
      [4, 'Solaris'],
      [5, 'The Cyberiad'],
    ],
  );
  assert.equal(data[0].price, 11);
});

test('setof table function with select, filters, order and limit', async () => {
  const data = ok(
    await anon
      .rpc('books_by_country', { country_code: 'US' })
      .select('id, title')
      .gt('published', 1968)
      .neq('genre', 'fantasy')
      .order('published', { ascending: false })
      .limit(3),
  );
  assert.deepEqual(data, [
    { id: 7, title: 'Parable of the Sower' },
    { id: 6, title: 'Kindred' },
    { id: 3, title: 'The Dispossessed' },
  ]);
});

test('setof table function with an embed through its return type', async () => {
  const data = ok(
    await anon.rpc('books_by_country', { country_code: 'IT' }).select('title, authors(name)'),
  );
  assert.deepEqual(data, [{ title: 'Invisible Cities', authors: { name: 'Italo Calvino' } }]);
});

test('setof table function over GET with range and count', async () => {
  const res = await anon
    .rpc('books_by_country', { country_code: 'US' }, { get: true, count: 'exact' })
    .select('id')
    .order('id')
    .range(1, 2);
  assert.equal(res.error, null);
  assert.deepEqual(res.data, [{ id: 2 }, { id: 3 }]);
  assert.equal(res.count, 5);
});

test('returns table(...) function with a filter', async () => {
  const data = ok(await anon.rpc('book_stats').gte('books', 2).order('author'));
  assert.deepEqual(data, [
    { author: 'Octavia E. Butler', books: 2, pages: 609 },
    { author: 'Stanisław Lem', books: 2, pages: 499 },
    { author: 'Ursula K. Le Guin', books: 3, pages: 874 },
  ]);
});

test('void function: 204, data null, and its side effect happened', async () => {
  const label = uniq('ping');
  const res = await anon.rpc('ping', { label });
  assert.equal(res.error, null);
  assert.equal(res.status, 204);
  assert.equal(res.data, null);
  const rows = ok(await anon.from('pings').select('label').eq('label', label));
  assert.deepEqual(rows, [{ label }]);
});

test('function returning one composite row: an object', async () => {
  const sku = uniq('restock');
  ok(await anon.from('items').insert({ sku, name: 'Bolt', qty: 2 }));
  const data = ok(await anon.rpc('restock', { item_sku: sku, amount: 5 }));
  assert.equal(data.sku, sku);
  assert.equal(data.qty, 7);
  assert.ok(!Array.isArray(data));
});

test('volatile function over GET is refused with 405 and has no effect', async () => {
  const label = uniq('get');
  const res = await anon.rpc('ping', { label }, { get: true });
  assert.equal(res.status, 405);
  assert.equal(res.data, null);
  assert.equal(res.error?.code, '25006', 'PostgREST 12: a write in the read-only GET transaction');
  assert.deepEqual(ok(await anon.from('pings').select('label').eq('label', label)), []);
});

test(
  'volatile function that writes, over GET: 25006 as in PostgREST 12',
  async () => {
    const res = await anon.rpc('ping', { label: uniq('get') }, { get: true });
    assert.equal(res.status, 405);
    assert.equal(res.error?.code, '25006');
    assert.match(res.error.message, /cannot execute INSERT in a read-only transaction/);
  },
);

test('unknown function: PGRST202 404 with a hint naming the closest one', async () => {
  const res = await anon.rpc('add_number', { a: 1, b: 2 });
  assert.equal(res.status, 404);
  assert.equal(res.error?.code, 'PGRST202');
  assert.equal(res.error.message, 'Could not find the function public.add_number(a, b) in the schema cache');
  assert.match(res.error.hint, /public\.add_numbers/);
});

test('wrong argument names: PGRST202', async () => {
  const res = await anon.rpc('add_numbers', { x: 1, y: 2 });
  assert.equal(res.status, 404);
  assert.equal(res.error?.code, 'PGRST202');
  assert.match(res.error.message, /public\.add_numbers\(x, y\)/);
});

test('argument of the wrong type: 22P02 / 400', async () => {
  const res = await anon.rpc('add_numbers', { a: 'one', b: 2 });
  assert.equal(res.status, 400);
  assert.equal(res.error?.code, '22P02');
});

test('RAISE EXCEPTION in a function: P0001 / 400 with message and hint', async () => {
  const res = await anon.rpc('fail_with', { msg: 'nope, not today' });
  assert.equal(res.status, 400);
  assert.deepEqual(res.error, {
    code: 'P0001',
    message: 'nope, not today',
    details: null,
    hint: 'raised on purpose',
  });
});
