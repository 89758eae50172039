// GraphQL end to end against the built binary: graphql-js builds a client schema from our
// introspection and validates documents against it; a GraphQL client (graphql-request) runs
// queries and mutations over HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClientSchema, getIntrospectionQuery, parse, validate } from 'graphql';
import { GraphQLClient } from 'graphql-request';
import { url, anonKey, uniq } from './helpers.mjs';

const client = new GraphQLClient(`${url}/graphql/v1`, {
  headers: { apikey: anonKey, authorization: `Bearer ${anonKey}` },
  // keep `errors` beside `data` (pg_graphql answers field errors with status 200)
  errorPolicy: 'all',
});

async function gql(query, variables) {
  const { data, errors, status } = await client.rawRequest(query, variables);
  assert.equal(status, 200);
  return { data, errors };
}

// A request error (a document refused before it runs) answers 400 to a client asking for
// application/graphql-response+json, as graphql-request does; plain JSON clients get 200.
async function post(query) {
  const res = await fetch(`${url}/graphql/v1`, {
    method: 'POST',
    headers: { apikey: anonKey, authorization: `Bearer ${anonKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

test('graphql-js accepts the introspection and validates documents against it', async () => {
  const { data, errors } = await gql(getIntrospectionQuery());
  assert.equal(errors, undefined, JSON.stringify(errors));
  const schema = buildClientSchema(data);
  const good = parse(`query($first: Int) {
    booksCollection(first: $first, orderBy: [{ id: AscNullsLast }], filter: { published: { gte: 1900 } }) {
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id title authors { name } reviewsCollection { edges { node { id } } } } }
    }
  }`);
  assert.deepEqual(validate(schema, good), []);
  const bad = parse('{ booksCollection { edges { node { nope } } } }');
  assert.equal(validate(schema, bad).length, 1);
});

test('queries page through a collection with nested relationships', async () => {
  const first = await gql(`{ authorsCollection(first: 2, orderBy: [{ id: AscNullsLast }]) {
      pageInfo { hasNextPage endCursor }
      edges { node { id name booksCollection { edges { node { title } } } } } } }`);
  assert.equal(first.errors, undefined, JSON.stringify(first.errors));
  const page = first.data.authorsCollection;
  assert.equal(page.edges.length, 2);
  assert.equal(page.pageInfo.hasNextPage, true);
  // the nested one-to-many holds each author's books from the seed (compared as sets)
  const titles = (author) => author.booksCollection.edges.map((e) => e.node.title).sort();
  assert.deepEqual(page.edges.map((e) => titles(e.node)), [
    ['A Wizard of Earthsea', 'The Dispossessed', 'The Left Hand of Darkness'],
    ['Solaris', 'The Cyberiad'],
  ]);
  const next = await gql(
    `query($after: Cursor) { authorsCollection(first: 2, after: $after, orderBy: [{ id: AscNullsLast }]) { edges { node { id } } } }`,
    { after: page.pageInfo.endCursor },
  );
  assert.equal(next.errors, undefined, JSON.stringify(next.errors));
  // the seed has authors 1..5: the page after [1, 2] is exactly [3, 4] (an empty page fails)
  assert.deepEqual(page.edges.map((e) => e.node.id), [1, 2]);
  assert.deepEqual(next.data.authorsCollection.edges.map((e) => e.node.id), [3, 4]);
});

test('mutations insert, update and delete with affectedCount and records', async () => {
  const sku = uniq('gql');
  const inserted = await gql(
    `mutation($sku: String!) { insertIntoitemsCollection(objects: [{ sku: $sku, name: "from graphql", qty: 3 }]) {
      affectedCount records { sku name qty } } }`,
    { sku },
  );
  assert.equal(inserted.errors, undefined, JSON.stringify(inserted.errors));
  assert.deepEqual(inserted.data.insertIntoitemsCollection, { affectedCount: 1, records: [{ sku, name: 'from graphql', qty: 3 }] });
  const updated = await gql(
    `mutation($sku: String!) { updateitemsCollection(set: { qty: 4 }, filter: { sku: { eq: $sku } }, atMost: 1) {
      affectedCount records { qty } } }`,
    { sku },
  );
  assert.deepEqual(updated.data.updateitemsCollection, { affectedCount: 1, records: [{ qty: 4 }] });
  // atMost: a delete matching more rows than allowed is rolled back. It matches only rows this
  // test owns (the shared table's other rows are never at risk), and both are still there after.
  const other = uniq('gql');
  const second = await gql(`mutation($sku: String!) { insertIntoitemsCollection(objects: [{ sku: $sku, name: "other", qty: 1 }]) { affectedCount } }`, { sku: other });
  assert.equal(second.errors, undefined, JSON.stringify(second.errors));
  const mine = { sku: { in: [sku, other] } };
  const tooMany = await gql(
    `mutation($filter: itemsFilter) { deleteFromitemsCollection(filter: $filter, atMost: 1) { affectedCount } }`,
    { filter: mine },
  );
  assert.equal(tooMany.data, null);
  assert.equal(tooMany.errors?.[0]?.message, 'delete impacts too many records', JSON.stringify(tooMany.errors));
  const kept = await gql(
    `query($filter: itemsFilter) { itemsCollection(filter: $filter, first: 10) { edges { node { sku } } } }`,
    { filter: mine },
  );
  assert.deepEqual(kept.data.itemsCollection.edges.map((e) => e.node.sku).sort(), [sku, other].sort(), JSON.stringify(kept));
  // Without a filter (or with an empty one) update and delete are refused before they run.
  // atMost: 0 makes a regression that ran them anyway roll back (a different message, and no
  // row of the shared table lost or changed) instead of emptying the table mid-run.
  for (const unfiltered of [
    'mutation { deleteFromitemsCollection(atMost: 0) { affectedCount } }',
    'mutation { deleteFromitemsCollection(filter: {}, atMost: 0) { affectedCount } }',
  ]) {
    const refused = await post(unfiltered);
    assert.equal(refused.data, null);
    assert.equal(
      refused.errors?.[0]?.message,
      'deleteFromitemsCollection requires a filter: without one (or with an empty one) it would delete every record. ' +
        'Add a filter argument that selects the records to delete (atMost still limits how many may change)',
      JSON.stringify(refused.errors),
    );
  }
  const refusedUpdate = await post('mutation { updateitemsCollection(set: { qty: 0 }, atMost: 0) { affectedCount } }');
  assert.equal(refusedUpdate.data, null);
  assert.match(refusedUpdate.errors?.[0]?.message ?? '', /^updateitemsCollection requires a filter/);
  for (const s of [sku, other]) {
    const deleted = await gql(
      `mutation($sku: String!) { deleteFromitemsCollection(filter: { sku: { eq: $sku } }) { affectedCount records { sku } } }`,
      { sku: s },
    );
    assert.equal(deleted.errors, undefined, JSON.stringify(deleted.errors));
    assert.deepEqual(deleted.data.deleteFromitemsCollection, { affectedCount: 1, records: [{ sku: s }] });
  }
});

test('a fragment spreading itself is refused and the server keeps answering', async () => {
  const cyclic = await post(`{ authorsCollection { edges { node { ...A } } } }
    fragment A on authors { booksCollection { edges { node { authors { ...A } } } } }`);
  // refused before any field runs: no `data` key, as pg_graphql answers
  assert.equal('data' in cyclic, false, JSON.stringify(cyclic));
  assert.equal(cyclic.errors?.[0]?.message, 'Found a cycle between fragments', JSON.stringify(cyclic.errors));
  const deep = await post('{a'.repeat(50_000) + '}'.repeat(50_000));
  assert.match(deep.errors?.[0]?.message ?? '', /nested too deeply/);
  const after = await gql('{ authorsCollection(first: 1) { edges { node { id } } } }');
  assert.equal(after.errors, undefined, JSON.stringify(after.errors));
  assert.equal(after.data.authorsCollection.edges.length, 1);
});
