// Auth end to end with supabase-js against the built binary: sign-up, sign-in, RLS on
// auth.uid(), refresh-token rotation and reuse, sign-out, and the admin API's key check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import ws from 'ws';
import { url, anonKey, serviceKey, ok, uniq } from './helpers.mjs';

const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: ws },
};

function newClient(key = anonKey) {
  return createClient(url, key, options);
}

async function signedUpUser(label) {
  const client = newClient();
  const email = `${uniq(label)}@example.com`;
  const password = 'correct horse battery';
  const { data, error } = await client.auth.signUp({ email, password });
  assert.equal(error, null, JSON.stringify(error));
  assert.ok(data.session, 'auto-confirm signs the user in');
  return { client, email, password, user: data.user };
}

test('two users each insert and list only their own rows', async () => {
  const alice = await signedUpUser('alice');
  const bob = await signedUpUser('bob');
  // Sign in again with the password (a fresh session).
  const { data: signIn, error } = await alice.client.auth.signInWithPassword({ email: alice.email, password: alice.password });
  assert.equal(error, null);
  assert.equal(signIn.user.id, alice.user.id);

  ok(await alice.client.from('notes').insert({ body: 'alice note' }));
  ok(await bob.client.from('notes').insert([{ body: 'bob note 1' }, { body: 'bob note 2' }]));

  const aliceRows = ok(await alice.client.from('notes').select('body, user_id'));
  assert.deepEqual(aliceRows, [{ body: 'alice note', user_id: alice.user.id }]);
  const bobRows = ok(await bob.client.from('notes').select('body').order('body'));
  assert.deepEqual(bobRows.map((r) => r.body), ['bob note 1', 'bob note 2']);

  // Bob cannot change or delete Alice's note: nothing matches under RLS.
  const updated = ok(await bob.client.from('notes').update({ body: 'hacked' }).eq('body', 'alice note').select());
  assert.deepEqual(updated, []);
  const { error: forged } = await bob.client.from('notes').insert({ body: 'x', user_id: alice.user.id });
  assert.equal(forged.code, '42501');
  assert.deepEqual(ok(await alice.client.from('notes').select('body')), [{ body: 'alice note' }]);

  // The anon key alone sees nothing of it (no grant): 401 as PostgREST answers anon.
  const { error: anonError, status } = await newClient().from('notes').select();
  assert.equal(anonError.code, '42501');
  assert.equal(status, 401);

  // getUser / updateUser
  const { data: me } = await alice.client.auth.getUser();
  assert.equal(me.user.email, alice.email);
  const { data: changed, error: updateError } = await alice.client.auth.updateUser({ data: { nickname: 'al' } });
  assert.equal(updateError, null);
  assert.equal(changed.user.user_metadata.nickname, 'al');
});

test('refresh rotates tokens; a reused refresh token fails; signOut ends the session', async () => {
  const alice = await signedUpUser('rotate');
  const { data: first } = await alice.client.auth.getSession();
  const oldRefresh = first.session.refresh_token;
  const { data: refreshed, error } = await alice.client.auth.refreshSession();
  assert.equal(error, null, JSON.stringify(error));
  assert.notEqual(refreshed.session.refresh_token, oldRefresh, 'refresh token rotated');
  assert.ok(refreshed.session.access_token);

  // Reusing the old (revoked) refresh token after the reuse interval fails and ends the session.
  await new Promise((resolve) => setTimeout(resolve, 11_000));
  const other = newClient();
  const { error: reuseError } = await other.auth.refreshSession({ refresh_token: oldRefresh });
  assert.ok(reuseError, 'reused refresh token must fail');

  // Sign out: the access token no longer works for the auth API.
  const bob = await signedUpUser('signout');
  const { data: session } = await bob.client.auth.getSession();
  const accessToken = session.session.access_token;
  const { error: outError } = await bob.client.auth.signOut();
  assert.equal(outError, null);
  const { error: afterError } = await newClient().auth.getUser(accessToken);
  assert.ok(afterError, 'getUser with a signed-out session fails');
});

test('the admin API works only with the service_role key', async () => {
  const email = `${uniq('admin')}@example.com`;
  const admin = newClient(serviceKey);
  const { data: created, error } = await admin.auth.admin.createUser({ email, password: 'secret-pass', email_confirm: true });
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(created.user.email, email);
  const { data: listed } = await admin.auth.admin.listUsers();
  assert.ok(listed.users.some((u) => u.email === email));
  const { error: deleteError } = await admin.auth.admin.deleteUser(created.user.id);
  assert.equal(deleteError, null);

  const { error: anonError } = await newClient(anonKey).auth.admin.listUsers();
  assert.ok(anonError, 'the anon key must not reach the admin API');
  assert.equal(anonError.status, 403);
});

test('a wrong password is invalid_credentials and a weak one is refused', async () => {
  const alice = await signedUpUser('creds');
  const { error } = await newClient().auth.signInWithPassword({ email: alice.email, password: 'wrong password' });
  assert.equal(error.status, 400);
  assert.equal(error.code, 'invalid_credentials');
  const { error: weak } = await newClient().auth.signUp({ email: `${uniq('weak')}@example.com`, password: '123' });
  assert.equal(weak.status, 422);
  assert.equal(weak.code, 'weak_password');
});
