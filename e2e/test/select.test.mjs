// Reads with column selection and resource embedding of every relationship kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anon, ok } from './helpers.mjs';

test('select columns, alias and cast', async () => {
  const data = ok(
    await anon.from('books').select('id, name:title, price::text, published').eq('id', 1),
  );
  assert.deepEqual(data, [{ id: 1, name: 'A Wizard of Earthsea', price: '9.99', published: 1968 }]);
});

test('select * returns every column with its JSON type', async () => {
  const data = ok(await anon.from('books').select('*').eq('id', 5));
  assert.deepEqual(data, [
    {
      id: 5,
      title: 'The Cyberiad',
      author_id: 2,
      published: 1965,
      pages: 295,
      price: 10.25,
      genre: null,
      in_print: false,
      tags: ['robots', 'humor'],
    },
  ]);
});

test('many-to-one embed: an object (books → authors)', async () => {
  const data = ok(
    await anon.from('books').select('title, author:authors(name, country)').in('id', [1, 4]).order('id'),
  );
  assert.deepEqual(data, [
    { title: 'A Wizard of Earthsea', author: { name: 'Ursula K. Le Guin', country: 'US' } },
    { title: 'Solaris', author: { name: 'Stanisław Lem', country: 'PL' } },
  ]);
});

test('one-to-many embed: an array, [] when there are no children (authors → books)', async () => {
  const data = ok(
    await anon
      .from('authors')
      .select('name, books(title)')
      .in('id', [2, 5])
      .order('id')
      .order('id', { referencedTable: 'books' }),
  );
  assert.deepEqual(data, [
    { name: 'Stanisław Lem', books: [{ title: 'Solaris' }, { title: 'The Cyberiad' }] },
    { name: 'Nobody Yet', books: [] },
  ]);
});

test('one-to-one embed: an object or null (books → book_details)', async () => {
  const data = ok(await anon.from('books').select('id, book_details(isbn)').in('id', [1, 2]).order('id'));
  assert.deepEqual(data, [
    { id: 1, book_details: { isbn: '978-0553383041' } },
    { id: 2, book_details: null },
  ]);
  // and the other direction: book_details → books is many-to-one, also an object
  const back = ok(await anon.from('book_details').select('isbn, books(title)').eq('book_id', 4));
  assert.deepEqual(back, [{ isbn: '978-0156027601', books: { title: 'Solaris' } }]);
});

test('many-to-many embed through the junction (books ↔ categories)', async () => {
  const data = ok(
    await anon
      .from('books')
      .select('id, categories(name)')
      .in('id', [1, 5])
      .order('id')
      .order('name', { referencedTable: 'categories' }),
  );
  assert.deepEqual(data, [
    { id: 1, categories: [{ name: 'Classics' }, { name: 'Fantasy' }] },
    { id: 5, categories: [] },
  ]);
  const back = ok(
    await anon
      .from('categories')
      .select('name, books(id)')
      .eq('name', 'Classics')
      .order('id', { referencedTable: 'books' }),
  );
  assert.deepEqual(back, [{ name: 'Classics', books: [{ id: 1 }, { id: 2 }, { id: 4 }] }]);
});

test('nested embeds (author → books → reviews and categories)', async () => {
  const data = ok(
    await anon
      .from('authors')
      .select('name, books(title, reviews(stars), categories(name))')
      .eq('id', 1)
      .order('id', { referencedTable: 'books' })
      .order('id', { referencedTable: 'books.reviews' })
      .order('name', { referencedTable: 'books.categories' }),
  );
  assert.deepEqual(data, [
    {
      name: 'Ursula K. Le Guin',
      books: [
        {
          title: 'A Wizard of Earthsea',
          reviews: [{ stars: 5 }, { stars: 4 }],
          categories: [{ name: 'Classics' }, { name: 'Fantasy' }],
        },
        {
          title: 'The Left Hand of Darkness',
          reviews: [],
          categories: [{ name: 'Classics' }, { name: 'Science Fiction' }],
        },
        { title: 'The Dispossessed', reviews: [], categories: [{ name: 'Science Fiction' }] },
      ],
    },
  ]);
});

test('!inner embed with a filter on it restricts the parent rows', async () => {
  const data = ok(
    await anon
      .from('books')
      .select('id, reviews!inner(stars)')
      .eq('reviews.stars', 5)
      .order('id'),
  );
  assert.deepEqual(data, [
    { id: 1, reviews: [{ stars: 5 }] },
    { id: 4, reviews: [{ stars: 5 }] },
  ]);
});

test('a filter on a plain embed filters only the embedded rows', async () => {
  const data = ok(
    await anon.from('books').select('id, reviews(stars)').eq('reviews.stars', 4).in('id', [1, 4]).order('id'),
  );
  assert.deepEqual(data, [
    { id: 1, reviews: [{ stars: 4 }] },
    { id: 4, reviews: [] },
  ]);
});

test('limit on an embedded resource', async () => {
  const data = ok(
    await anon
      .from('authors')
      .select('id, books(id)')
      .eq('id', 1)
      .order('id', { referencedTable: 'books', ascending: false })
      .limit(1, { referencedTable: 'books' }),
  );
  assert.deepEqual(data, [{ id: 1, books: [{ id: 3 }] }]);
});
