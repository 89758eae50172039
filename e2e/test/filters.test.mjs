// Filters, ordering, range() with counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anon, ok } from './helpers.mjs';

const ids = (rows) => rows.map((r) => r.id);

async function bookIds(build) {
  return ids(ok(await build(anon.from('books').select('id')).order('id')));
}

test('eq and neq', async () => {
  assert.deepEqual(await bookIds((q) => q.eq('author_id', 2)), [4, 5]);
  assert.deepEqual(await bookIds((q) => q.neq('author_id', 1)), [4, 5, 6, 7, 8]);
  assert.deepEqual(await bookIds((q) => q.eq('title', 'Solaris')), [4]);
});

test('gt, gte, lt, lte', async () => {
  assert.deepEqual(await bookIds((q) => q.gt('published', 1972)), [3, 6, 7]);
  assert.deepEqual(await bookIds((q) => q.gte('published', 1972)), [3, 6, 7, 8]);
  assert.deepEqual(await bookIds((q) => q.lt('price', 10)), [1, 8]);
  assert.deepEqual(await bookIds((q) => q.lte('price', 10.25).gt('pages', 180)), [1, 5]);
});

test('in, including values that need quoting', async () => {
  assert.deepEqual(await bookIds((q) => q.in('id', [2, 7, 99])), [2, 7]);
  assert.deepEqual(await bookIds((q) => q.in('title', ['Kindred', 'Invisible Cities', 'a,b (c)'])), [6, 8]);
  assert.deepEqual(await bookIds((q) => q.in('id', [])), []);
});

test('like and ilike (with * and % wildcards)', async () => {
  assert.deepEqual(await bookIds((q) => q.like('title', 'The *')), [2, 3, 5]);
  assert.deepEqual(await bookIds((q) => q.like('title', '%of%')), [1, 2, 7]);
  assert.deepEqual(await bookIds((q) => q.like('title', '%OF%')), []);
  assert.deepEqual(await bookIds((q) => q.ilike('title', '%OF%')), [1, 2, 7]);
});

test('is null / not null / true / false', async () => {
  assert.deepEqual(await bookIds((q) => q.is('genre', null)), [5, 8]);
  assert.deepEqual(await bookIds((q) => q.not('genre', 'is', null)), [1, 2, 3, 4, 6, 7]);
  assert.deepEqual(await bookIds((q) => q.is('in_print', false)), [5]);
  assert.deepEqual(await bookIds((q) => q.is('in_print', true).eq('author_id', 2)), [4]);
});

test('or, also nested with and', async () => {
  assert.deepEqual(await bookIds((q) => q.or('published.lt.1965,pages.lt.170')), [4, 8]);
  assert.deepEqual(
    await bookIds((q) => q.or('genre.eq.fantasy,and(author_id.eq.3,published.gt.1990)')),
    [1, 7],
  );
  // or combined with a plain filter is AND-ed
  assert.deepEqual(await bookIds((q) => q.or('author_id.eq.1,author_id.eq.2').gt('published', 1968)), [2, 3]);
});

test('or on an embedded resource (referencedTable)', async () => {
  const data = ok(
    await anon
      .from('authors')
      .select('id, books(id)')
      .eq('id', 1)
      .or('published.eq.1968,published.eq.1974', { referencedTable: 'books' })
      .order('id', { referencedTable: 'books' }),
  );
  assert.deepEqual(data, [{ id: 1, books: [{ id: 1 }, { id: 3 }] }]);
});

test('not with eq, in and like', async () => {
  assert.deepEqual(await bookIds((q) => q.not('author_id', 'eq', 1)), [4, 5, 6, 7, 8]);
  assert.deepEqual(await bookIds((q) => q.not('id', 'in', '(1,2,3,4)')), [5, 6, 7, 8]);
  assert.deepEqual(await bookIds((q) => q.not('title', 'like', '*of*')), [3, 4, 5, 6, 8]);
});

test('array contains / overlaps and match', async () => {
  assert.deepEqual(await bookIds((q) => q.contains('tags', ['classic'])), [1, 2, 4]);
  assert.deepEqual(await bookIds((q) => q.overlaps('tags', ['ocean', 'robots'])), [4, 5]);
  assert.deepEqual(await bookIds((q) => q.match({ author_id: 1, published: 1969 })), [2]);
});

test('order: ascending, descending, several columns, nulls first/last', async () => {
  const desc = ok(await anon.from('books').select('id').order('published', { ascending: false }).limit(3));
  assert.deepEqual(ids(desc), [7, 6, 3]);

  const multi = ok(
    await anon.from('books').select('id').order('author_id', { ascending: false }).order('pages').limit(4),
  );
  assert.deepEqual(ids(multi), [8, 6, 7, 4]);

  const nullsFirst = ok(
    await anon.from('books').select('id, genre').order('genre', { nullsFirst: true }).order('id').limit(3),
  );
  assert.deepEqual(ids(nullsFirst), [5, 8, 1]);

  const nullsLast = ok(
    await anon
      .from('books')
      .select('id')
      .order('genre', { ascending: false, nullsFirst: false })
      .order('id'),
  );
  assert.deepEqual(ids(nullsLast), [2, 3, 4, 6, 7, 1, 5, 8]);
});

test('order the parent rows by a column of a to-one embed', async () => {
  // postgrest-js sends order=authors(name).desc
  const data = ok(
    await anon
      .from('books')
      .select('id, authors(name)')
      .in('id', [1, 4, 6, 8])
      .order('authors(name)', { ascending: false }),
  );
  assert.deepEqual(ids(data), [1, 4, 6, 8]);
  const asc = ok(
    await anon.from('books').select('id, authors(name)').in('id', [1, 4, 6, 8]).order('authors(name)'),
  );
  assert.deepEqual(ids(asc), [8, 6, 4, 1]);
});

test('range() with count exact: page and total', async () => {
  const { data, count, error, status } = await anon
    .from('books')
    .select('id', { count: 'exact' })
    .order('id')
    .range(2, 4);
  assert.equal(error, null);
  assert.deepEqual(ids(data), [3, 4, 5]);
  assert.equal(count, 8);
  assert.equal(status, 206);
});

test('range() with count exact and a filter counts the filtered rows', async () => {
  const { data, count, error } = await anon
    .from('books')
    .select('id', { count: 'exact' })
    .eq('genre', 'scifi')
    .order('id')
    .range(0, 1);
  assert.equal(error, null);
  assert.deepEqual(ids(data), [2, 3]);
  assert.equal(count, 5);
});

test('range() covering all rows answers 200 with the full count', async () => {
  const { data, count, status, error } = await anon
    .from('authors')
    .select('id', { count: 'exact' })
    .order('id')
    .range(0, 9);
  assert.equal(error, null);
  assert.equal(status, 200);
  assert.equal(count, 5);
  assert.deepEqual(ids(data), [1, 2, 3, 4, 5]);
});

test('count with head: true returns only the count', async () => {
  const { data, count, error } = await anon
    .from('books')
    .select('*', { count: 'exact', head: true })
    .eq('author_id', 1);
  assert.equal(error, null);
  assert.equal(data, null);
  assert.equal(count, 3);
});

test('range() beyond the end gives a 416 error with PGRST103', async () => {
  const { data, error, status } = await anon
    .from('books')
    .select('id', { count: 'exact' })
    .order('id')
    .range(20, 29);
  assert.equal(status, 416);
  assert.equal(data, null);
  assert.deepEqual(error, {
    code: 'PGRST103',
    message: 'Requested range not satisfiable',
    details: 'An offset of 20 was requested, but there are only 8 rows.',
    hint: null,
  });
});

test('limit without range', async () => {
  const { data, count, error } = await anon.from('books').select('id').order('id').limit(2);
  assert.equal(error, null);
  assert.deepEqual(ids(data), [1, 2]);
  assert.equal(count, null);
});
