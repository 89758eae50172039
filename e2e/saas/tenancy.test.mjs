// The SaaS example as two users drive it through supabase-js: organizations, invitations,
// row-level security, the RPCs and the GraphQL dashboard.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import ws from 'ws';
import { url, anonKey, signUp, ok, uniq, graphql } from './helpers.mjs';

// The dashboard query exactly as examples/saas/README.md shows it.
export const DASHBOARD = `query Dashboard {
  projectsCollection(orderBy: [{ name: AscNullsLast }]) {
    edges {
      node {
        id
        name
        organizations { name }
        openTasks: tasksCollection(filter: { done: { eq: false } }) { totalCount }
        recentTasks: tasksCollection(first: 5, orderBy: [{ created_at: DescNullsLast }, { id: DescNullsLast }]) {
          edges { node { id title done due_at } }
        }
      }
    }
  }
}`;

let alice;
let bob;
let orgA; // Alice's organization (Bob is invited into it)
let orgB; // Bob's organization
let launch; // a project of orgA with seven tasks
let hiring; // a project of orgA with one task
let roadmap; // a project of orgB with two tasks
const titles = {};

const ids = (rows) => rows.map((r) => r.id).sort((a, b) => a - b);

before(async () => {
  alice = await signUp('alice');
  bob = await signUp('bob');
});

test('sign-up creates a profile with the display name', async () => {
  const profile = ok(await alice.client.from('profiles').select('user_id, display_name, email_digest').single());
  assert.deepEqual(profile, { user_id: alice.id, display_name: 'alice', email_digest: true });
});

test('each user creates an organization and becomes its owner', async () => {
  orgA = ok(await alice.client.rpc('create_organization', { name: uniq('Acme') }));
  orgB = ok(await bob.client.rpc('create_organization', { name: uniq('Bobco') }));
  assert.equal(typeof orgA.id, 'number');
  assert.notEqual(orgA.id, orgB.id);
  const members = ok(await alice.client.from('memberships').select('user_id, role').eq('organization_id', orgA.id));
  assert.deepEqual(members, [{ user_id: alice.id, role: 'owner' }]);
});

test('organizations cannot be inserted directly, only through create_organization', async () => {
  const { error } = await alice.client.from('organizations').insert({ name: 'sneaky' });
  assert.equal(error?.code, '42501');
});

test('members add projects and tasks to their own organization only', async () => {
  launch = ok(await alice.client.from('projects').insert({ organization_id: orgA.id, name: 'Launch' }).select().single());
  hiring = ok(await alice.client.from('projects').insert({ organization_id: orgA.id, name: 'Hiring' }).select().single());
  roadmap = ok(await bob.client.from('projects').insert({ organization_id: orgB.id, name: 'Roadmap' }).select().single());
  titles.launch = Array.from({ length: 7 }, (_, i) => `launch task ${i + 1}`);
  ok(await alice.client.from('tasks').insert(titles.launch.map((title) => ({ project_id: launch.id, title }))));
  ok(await alice.client.from('tasks').insert({ project_id: hiring.id, title: 'hire a designer' }));
  ok(await bob.client.from('tasks').insert([
    { project_id: roadmap.id, title: 'roadmap draft' },
    { project_id: roadmap.id, title: 'roadmap review' },
  ]));
  // Bob is not (yet) a member of Acme: RLS refuses the row.
  const { error } = await bob.client.from('projects').insert({ organization_id: orgA.id, name: 'intrusion' });
  assert.equal(error?.code, '42501');
});

test('before the invitation each user sees exactly their own organizations, projects and tasks', async () => {
  assert.deepEqual(ids(ok(await alice.client.from('organizations').select('id'))), [orgA.id]);
  assert.deepEqual(ids(ok(await bob.client.from('organizations').select('id'))), [orgB.id]);
  assert.deepEqual(ids(ok(await alice.client.from('projects').select('id'))), [launch.id, hiring.id].sort((a, b) => a - b));
  assert.deepEqual(ids(ok(await bob.client.from('projects').select('id'))), [roadmap.id]);
  assert.equal(ok(await alice.client.from('tasks').select('id')).length, 8);
  assert.deepEqual(
    ok(await bob.client.from('tasks').select('title').order('id')).map((t) => t.title),
    ['roadmap draft', 'roadmap review'],
  );
  // Anonymous visitors see nothing at all.
  const anon = createClient(url, anonKey, { auth: { persistSession: false }, realtime: { transport: ws } });
  const { data, error } = await anon.from('tasks').select('id');
  assert.ok(error || data.length === 0, 'anon must not read tasks');
});

test('only an owner can invite, with a clear error otherwise', async () => {
  const refused = await bob.client.rpc('invite_member', { organization_id: orgA.id, email: bob.email, role: 'member' });
  assert.equal(refused.status, 403);
  assert.equal(refused.error?.code, '42501');
  assert.match(refused.error.message, /only an owner/);
  assert.ok(refused.error.hint, 'the error has a hint');

  const unknown = await alice.client.rpc('invite_member', { organization_id: orgA.id, email: 'nobody-' + uniq('x') + '@example.com', role: 'member' });
  assert.equal(unknown.status, 404);
  assert.match(unknown.error?.message ?? '', /has signed up/);

  const badRole = await alice.client.rpc('invite_member', { organization_id: orgA.id, email: bob.email, role: 'admin' });
  assert.equal(badRole.status, 400);
});

test('Alice invites Bob into her organization as a member; Bob then sees it', async () => {
  const membership = ok(await alice.client.rpc('invite_member', { organization_id: orgA.id, email: bob.email, role: 'member' }));
  assert.deepEqual([membership.organization_id, membership.user_id, membership.role], [orgA.id, bob.id, 'member']);

  const again = await alice.client.rpc('invite_member', { organization_id: orgA.id, email: bob.email, role: 'member' });
  assert.equal(again.status, 409);

  assert.deepEqual(ids(ok(await bob.client.from('organizations').select('id'))), [orgA.id, orgB.id].sort((a, b) => a - b));
  assert.deepEqual(
    ids(ok(await bob.client.from('projects').select('id'))),
    [launch.id, hiring.id, roadmap.id].sort((a, b) => a - b),
  );
  assert.equal(ok(await bob.client.from('tasks').select('id')).length, 10);
  // Alice still sees only Acme: Bob's own organization stays his.
  assert.deepEqual(ids(ok(await alice.client.from('organizations').select('id'))), [orgA.id]);
  assert.equal(ok(await alice.client.from('tasks').select('id')).length, 8);
  // Co-members see each other's profiles.
  const names = ok(await alice.client.from('profiles').select('display_name').order('display_name')).map((p) => p.display_name);
  assert.deepEqual(names, ['alice', 'bob']);
  // A member cannot invite either.
  const carol = await signUp('carol');
  const refused = await bob.client.rpc('invite_member', { organization_id: orgA.id, email: carol.email, role: 'member' });
  assert.equal(refused.error?.code, '42501');
});

test("Bob, a member, cannot delete or rename Alice's organization; Alice can rename it", async () => {
  const deleted = await bob.client.from('organizations').delete().eq('id', orgA.id);
  assert.equal(deleted.error?.code, '42501');
  assert.match(deleted.error.message, /only an owner/);
  const renamed = await bob.client.from('organizations').update({ name: 'Bob was here' }).eq('id', orgA.id);
  assert.equal(renamed.error?.code, '42501');
  const row = ok(await alice.client.from('organizations').select('id, name').eq('id', orgA.id).single());
  assert.equal(row.name, orgA.name);

  const newName = uniq('Acme Inc');
  const updated = ok(await alice.client.from('organizations').update({ name: newName }).eq('id', orgA.id).select().single());
  assert.equal(updated.name, newName);
  orgA = updated;
});

test('complete_task marks the task done and writes its activity row', async () => {
  const [first, second] = ok(await bob.client.from('tasks').select('id, title').eq('project_id', launch.id).order('id').limit(2));
  const done = ok(await bob.client.rpc('complete_task', { task_id: first.id }));
  assert.equal(done.id, first.id);
  assert.equal(done.done, true);
  ok(await alice.client.rpc('complete_task', { task_id: second.id }));

  const feed = ok(await alice.client.from('activity')
    .select('organization_id, actor_id, verb, subject')
    .eq('verb', 'completed')
    .order('id'));
  assert.deepEqual(feed.map((a) => [a.organization_id, a.actor_id, a.verb]), [
    [orgA.id, bob.id, 'completed'],
    [orgA.id, alice.id, 'completed'],
  ]);
  assert.ok(feed[0].subject.includes(first.title), feed[0].subject);
  // The feed is read-only through the API.
  const forged = await alice.client.from('activity').insert({ organization_id: orgA.id, verb: 'x', subject: 'y' });
  assert.equal(forged.error?.code, '42501');
  // Bob's organization's feed is not Alice's business.
  const bobs = ok(await alice.client.from('activity').select('id').eq('organization_id', orgB.id));
  assert.deepEqual(bobs, []);
});

test("complete_task of a task outside the caller's organizations is 404 with a hint", async () => {
  const [bobsTask] = ok(await bob.client.from('tasks').select('id').eq('project_id', roadmap.id).limit(1));
  const result = await alice.client.rpc('complete_task', { task_id: bobsTask.id });
  assert.equal(result.status, 404);
  assert.match(result.error?.message ?? '', /not found/);
  assert.ok(result.error.hint);
  const still = ok(await bob.client.from('tasks').select('done').eq('id', bobsTask.id).single());
  assert.equal(still.done, false);
});

test('the GraphQL dashboard returns each project with its open-task count and five newest tasks', async () => {
  const { status, body } = await graphql(alice.token, DASHBOARD);
  assert.equal(status, 200);
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  const projects = body.data.projectsCollection.edges.map((e) => e.node);
  assert.deepEqual(projects.map((p) => p.name), ['Hiring', 'Launch']);
  const [hiringNode, launchNode] = projects;
  assert.equal(hiringNode.organizations.name, orgA.name);
  assert.equal(hiringNode.openTasks.totalCount, 1);
  assert.equal(launchNode.openTasks.totalCount, 5); // 7 tasks, 2 completed
  const recent = launchNode.recentTasks.edges.map((e) => e.node.title);
  assert.deepEqual(recent, titles.launch.slice(2).reverse());

  // Bob sees Alice's projects and his own.
  const forBob = await graphql(bob.token, DASHBOARD);
  assert.equal(forBob.body.errors, undefined, JSON.stringify(forBob.body.errors));
  const counts = Object.fromEntries(
    forBob.body.data.projectsCollection.edges.map((e) => [e.node.name, e.node.openTasks.totalCount]),
  );
  assert.deepEqual(counts, { Hiring: 1, Launch: 5, Roadmap: 2 });
});
