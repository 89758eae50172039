// The daily digest of the SaaS example end to end: enqueue_daily_digest() → pgmq queue
// 'digests' → cron job 'deliver-digests' → net.http_post → the dev mail sink, with the sink
// failing and recovering, the archive after five failed reads, and a rolled-back
// net.http_post that must send nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { signUp, ok, uniq, sql, lit, sink, waitFor } from './helpers.mjs';

// Users, each with an organization; `open` are the titles of their open tasks.
let ann; // two open tasks in her organization
let ben; // member of Ann's organization (sees her tasks) plus one open task of his own
let cid; // open tasks, but turned the digest off
let dee; // only completed tasks: no digest

/** Every user with open tasks who wants the digest, with their open task titles, per SQL. */
async function expectedDigests() {
  const rows = await sql(`
    select u.email, string_agg(t.title, '|' order by t.title) as titles
    from public.memberships m
    join public.projects p on p.organization_id = m.organization_id
    join public.tasks t on t.project_id = p.id and not t.done
    join auth.users u on u.id = m.user_id
    left join public.profiles pr on pr.user_id = m.user_id
    where coalesce(pr.email_digest, true)
    group by u.email`);
  return new Map(rows.map((r) => [r.email, r.titles.split('|')]));
}

async function queued() {
  return sql(`select msg_id, read_ct, message->>'email' as email from pgmq.q_digests order by msg_id`);
}

async function deliverJob(schedule) {
  await sql(`select cron.alter_job(job_id := (select jobid from cron.job where jobname = 'deliver-digests'),
                                   schedule := ${lit(schedule)})`);
}

/** Pauses or resumes the deliver job; a pause waits until no run of it is in progress. */
async function deliverActive(active) {
  await sql(`select cron.alter_job(job_id := (select jobid from cron.job where jobname = 'deliver-digests'),
                                   active := ${active})`);
  if (!active) {
    await waitFor('the running deliver-digests run to finish', () => sql(`
      select count(*) as n from cron.job_run_details d join cron.job j using (jobid)
      where j.jobname = 'deliver-digests' and d.status in ('starting', 'running')`),
    (rows) => rows[0].n === '0');
  }
}

before(async () => {
  // Seconds, not minutes: deliver every second, retry a failed mail after 2 s. The 07:00 job is
  // paused so that it cannot add messages in the middle of a test.
  await deliverJob('1 seconds');
  await sql(`select cron.alter_job(job_id := (select jobid from cron.job where jobname = 'daily-digest'), active := false)`);
  await sql(`update private.mail_settings set retry_after_seconds = 2, max_attempts = 5`);
  await sink.failWith(null);

  ann = await signUp('ann');
  ben = await signUp('ben');
  cid = await signUp('cid');
  dee = await signUp('dee');
  const org = ok(await ann.client.rpc('create_organization', { name: uniq('Ann Co') }));
  ok(await ann.client.rpc('invite_member', { organization_id: org.id, email: ben.email, role: 'member' }));
  const annProject = ok(await ann.client.from('projects').insert({ organization_id: org.id, name: 'Garden' }).select().single());
  ok(await ann.client.from('tasks').insert([
    { project_id: annProject.id, title: uniq('water <the> roses') },
    { project_id: annProject.id, title: uniq('plant tulips') },
  ]));
  const benOrg = ok(await ben.client.rpc('create_organization', { name: uniq('Ben Co') }));
  const benProject = ok(await ben.client.from('projects').insert({ organization_id: benOrg.id, name: 'Shed' }).select().single());
  ok(await ben.client.from('tasks').insert({ project_id: benProject.id, title: uniq('fix the shed door') }));

  const cidOrg = ok(await cid.client.rpc('create_organization', { name: uniq('Cid Co') }));
  const cidProject = ok(await cid.client.from('projects').insert({ organization_id: cidOrg.id, name: 'Quiet' }).select().single());
  ok(await cid.client.from('tasks').insert({ project_id: cidProject.id, title: uniq('no mail please') }));
  ok(await cid.client.from('profiles').update({ email_digest: false }).eq('user_id', cid.id));

  const deeOrg = ok(await dee.client.rpc('create_organization', { name: uniq('Dee Co') }));
  const deeProject = ok(await dee.client.from('projects').insert({ organization_id: deeOrg.id, name: 'Done' }).select().single());
  const [deeTask] = ok(await dee.client.from('tasks').insert({ project_id: deeProject.id, title: uniq('all done') }).select());
  ok(await dee.client.rpc('complete_task', { task_id: deeTask.id }));

  // Nothing left over from other test files.
  await waitFor('an empty digest queue', queued, (rows) => rows.length === 0);
});

after(async () => {
  await sink.failWith(null);
  await deliverJob('10 seconds');
});

test('enqueue_daily_digest() queues one message per user with open tasks, carrying email and titles', async () => {
  await deliverActive(false); // hold delivery while the queue is inspected
  const expected = await expectedDigests();
  assert.ok(expected.has(ann.email) && expected.has(ben.email), 'the fixture has open tasks');
  assert.ok(!expected.has(cid.email), 'cid turned the digest off');
  assert.ok(!expected.has(dee.email), 'dee has no open task');

  const [{ enqueue_daily_digest: count }] = await sql(`select enqueue_daily_digest()`);
  assert.equal(Number(count), expected.size);
  const messages = await sql(`select message from pgmq.q_digests order by msg_id`);
  const byEmail = new Map(messages.map((m) => JSON.parse(m.message)).map((m) => [m.email, m]));
  assert.equal(byEmail.size, messages.length, 'one message per user');
  assert.deepEqual([...byEmail.keys()].sort(), [...expected.keys()].sort());
  // Ben belongs to Ann's organization too: his digest lists her open tasks and his own.
  assert.deepEqual(byEmail.get(ben.email).tasks.map((t) => t.title).sort(), expected.get(ben.email));
  assert.equal(byEmail.get(ben.email).tasks.length, 3);
  // While a user's digest is still queued, another call queues none for them.
  const [{ enqueue_daily_digest: again }] = await sql(`select enqueue_daily_digest()`);
  assert.equal(Number(again), 0);
  // Undo: this test only looked at the queue.
  await sql(`select pgmq.purge_queue('digests')`);
  await deliverActive(true);
});

test('deliver-digests sends exactly one mail per user with open tasks, with their task titles', async () => {
  await sink.clear();
  const before = await sink.counters();
  const expected = await expectedDigests();
  await sql(`select enqueue_daily_digest()`);

  await waitFor('the digest queue to empty (every mail answered 2xx)', queued, (rows) => rows.length === 0);
  const mails = await sink.list();
  const recipients = mails.flatMap((m) => m.to);
  assert.deepEqual([...recipients].sort(), [...expected.keys()].sort(), 'one mail per user with open tasks');
  for (const mail of mails) {
    const titles = expected.get(mail.to[0]);
    for (const title of titles) {
      assert.ok(mail.text.includes(title), `${mail.to[0]}'s mail lists "${title}"`);
    }
    assert.match(mail.subject, new RegExp(`${titles.length} open tasks?`));
    assert.ok(mail.html.includes('&lt;the&gt;') || !titles.some((t) => t.includes('<')), 'HTML is escaped');
  }
  assert.equal((await sink.counters()).duplicates, before.duplicates, 'no mail was posted twice');
  assert.equal((await sql(`select count(*) as n from pgmq.a_digests`))[0].n, '0');
});

test('while the provider answers 500 the messages stay queued with growing read_ct; then they are delivered', async () => {
  await sink.clear();
  const failing = await sink.failWith(500);
  const expected = await expectedDigests();
  await sql(`select enqueue_daily_digest()`);

  const mine = (rows) => rows.filter((r) => r.email === ann.email);
  const first = await waitFor('a failed read of ann\'s message', async () => mine(await queued()), (rows) => rows.length === 1 && Number(rows[0].read_ct) >= 1);
  const later = await waitFor('ann\'s message to be read again', async () => mine(await queued()),
    (rows) => rows.length === 1 && Number(rows[0].read_ct) > Number(first[0].read_ct));
  assert.equal(later[0].msg_id, first[0].msg_id, 'the same message, retried');
  assert.ok((await sink.counters()).rejected > failing.rejected, 'the sink refused posts');
  assert.deepEqual(await sink.list(), [], 'nothing was delivered while failing');
  const stillQueued = await queued();
  assert.equal(stillQueued.length, expected.size, 'every message is still in the queue');

  await sink.failWith(null);
  await waitFor('the queue to empty once the provider answers 200', queued, (rows) => rows.length === 0, { timeoutMs: 30000 });
  const recipients = (await sink.list()).flatMap((m) => m.to).sort();
  assert.deepEqual(recipients, [...expected.keys()].sort());
  assert.equal((await sql(`select count(*) as n from pgmq.a_digests`))[0].n, '0', 'none was archived');
});

test('a message read again while its mail still awaits an answer is not sent twice', async () => {
  await sink.clear();
  await sql(`update private.mail_settings set retry_after_seconds = 1`);
  const before = await sink.counters();
  await sink.delay(4000); // a provider slower than the retry interval
  try {
    const expected = await expectedDigests();
    await sql(`select enqueue_daily_digest()`);
    const mine = (rows) => rows.filter((r) => r.email === ann.email);
    await waitFor('ann\'s message to be read again while its mail is unanswered', async () => mine(await queued()),
      (rows) => rows.length === 1 && Number(rows[0].read_ct) >= 2);
    await sink.delay(null);
    await waitFor('the queue to empty', queued, (rows) => rows.length === 0);
    // Every mail sent has been answered and settled: a second post would have reached the sink.
    await waitFor('no digest mail in flight', () => sql(`select count(*) as n from private.digest_deliveries`),
      (rows) => rows[0].n === '0');
    const recipients = (await sink.list()).flatMap((m) => m.to).sort();
    assert.deepEqual(recipients, [...expected.keys()].sort());
    assert.equal((await sink.counters()).duplicates, before.duplicates, 'no mail was posted twice');
  } finally {
    await sink.delay(null);
    await sql(`update private.mail_settings set retry_after_seconds = 2`);
  }
});

test('a message read more than max_attempts (5) times without a 2xx is archived', async () => {
  await sink.clear();
  await sql(`update private.mail_settings set retry_after_seconds = 1`);
  const failingSince = await sink.failWith(503);
  try {
    const expected = await expectedDigests();
    await sql(`select enqueue_daily_digest()`);
    const archived = await waitFor('the messages to be archived', () =>
      sql(`select read_ct, message->>'email' as email from pgmq.a_digests`),
    (rows) => rows.length === expected.size, { timeoutMs: 45000 });
    // Five failed sends, archived on the sixth read (later only if a send was still unanswered).
    for (const row of archived) assert.ok(Number(row.read_ct) >= 6, `archived with read_ct ${row.read_ct}`);
    const rejected = (await sink.counters()).rejected - failingSince.rejected;
    assert.ok(rejected >= expected.size && rejected <= 5 * expected.size, `${rejected} refused posts`);
    assert.deepEqual(await queued(), []);
  } finally {
    await sink.failWith(null);
    await sql(`update private.mail_settings set retry_after_seconds = 2`);
  }
  assert.deepEqual(await sink.list(), []);
});

test('a rolled-back transaction that called net.http_post sends nothing', async () => {
  await sink.clear();
  const rolledBack = `${uniq('rolled-back')}@example.com`;
  const committed = `${uniq('committed')}@example.com`;
  const post = (to) => `select net.http_post(current_setting('pgbase.dev_mail_url'),
      jsonb_build_object('to', ${lit(to)}, 'subject', 'rollback test', 'text', 'hello'))`;
  await sql(`begin; ${post(rolledBack)}; rollback;`);
  // A committed request sent after it: once it has arrived, the rolled-back one would have too.
  await sql(post(committed));
  await waitFor('the committed mail', () => sink.list(committed), (mails) => mails.length === 1);
  assert.deepEqual(await sink.list(rolledBack), []);
  const pending = await sql(`select count(*) as n from net.http_request_queue`);
  assert.equal(pending[0].n, '0', 'no request is left queued');
});
