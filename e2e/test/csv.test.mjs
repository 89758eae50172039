// .csv(): text/csv with a header row, values in their text form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anon } from './helpers.mjs';

/** RFC 4180 parser: rows of fields; a quoted field may hold commas, quotes ("") and newlines. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

test('csv of a few columns: header row, one line per row, null as empty', async () => {
  const res = await anon.from('authors').select('id, name, country').order('id').csv();
  assert.equal(res.error, null);
  assert.equal(res.status, 200);
  assert.equal(typeof res.data, 'string');
  assert.deepEqual(parseCsv(res.data), [
    ['id', 'name', 'country'],
    ['1', 'Ursula K. Le Guin', 'US'],
    ['2', 'Stanisław Lem', 'PL'],
    ['3', 'Octavia E. Butler', 'US'],
    ['4', 'Italo Calvino', 'IT'],
    ['5', 'Nobody Yet', ''],
  ]);
});

test('csv values in their Postgres text form; commas and quotes quoted', async () => {
  const res = await anon
    .from('books')
    .select('id, title, price, tags, in_print')
    .in('id', [1, 6])
    .order('id')
    .csv();
  assert.equal(res.error, null);
  assert.deepEqual(parseCsv(res.data), [
    ['id', 'title', 'price', 'tags', 'in_print'],
    ['1', 'A Wizard of Earthsea', '9.99', '{classic,magic}', 't'],
    ['6', 'Kindred', '14.00', '{}', 't'],
  ]);
  assert.ok(res.data.includes('"{classic,magic}"'), `a field with a comma is quoted: ${res.data}`);
});

test('csv bytes as PostgREST 12 writes them (the row::text form, quoted like a record)', async () => {
  // PostgREST builds each line from substring(row::text), so fields with spaces are quoted too.
  const res = await anon.from('authors').select('id, name, country').in('id', [2, 5]).order('id').csv();
  assert.equal(res.error, null);
  assert.equal(res.data, 'id,name,country\n2,"Stanisław Lem",PL\n5,"Nobody Yet",');
});

test('csv with filters and no matching rows has no data lines', async () => {
  const res = await anon.from('authors').select('id, name').eq('id', 999).csv();
  assert.equal(res.error, null);
  assert.deepEqual(
    parseCsv(res.data ?? '').filter((r) => r.join('') !== ''),
    [],
  );
});
