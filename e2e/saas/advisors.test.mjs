// The SaaS example is written the fast and safe way: pgbase's own advisors find nothing at
// WARN or ERROR in it (issue #14) — and the same advisors do fire on a table left open, so the
// check is not vacuous.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { advisors, sql, uniq } from './helpers.mjs';

test('the example passes the advisors with no WARN or ERROR', async () => {
  const findings = await advisors();
  const serious = findings.filter((f) => f.level === 'WARN' || f.level === 'ERROR');
  assert.deepEqual(serious.map((f) => `${f.level} ${f.name}: ${f.detail}`), []);
});

test('a table left without RLS is reported, then no longer once fixed', async () => {
  const table = uniq('open_table').replaceAll('-', '_');
  await sql(`create table public.${table} (id bigint primary key); grant select on public.${table} to anon`);
  try {
    const findings = await advisors();
    const hit = findings.find((f) => f.name === 'rls_disabled_in_public' && f.detail.includes(table));
    assert.ok(hit, `no rls_disabled_in_public finding for ${table}: ${JSON.stringify(findings)}`);
    assert.equal(hit.level, 'ERROR');
  } finally {
    await sql(`drop table public.${table}`);
  }
  const after = await advisors();
  assert.ok(!after.some((f) => f.detail.includes(table)), 'the finding went away with the table');
});
