-- 7. The daily digest: a queue, two cron jobs and HTTP from SQL — no job processor.
--
--   07:00 UTC    cron 'daily-digest'    → enqueue_daily_digest(): one message per user with
--                                          open tasks on the pgmq queue 'digests'
--   every 10 s   cron 'deliver-digests' → deliver_digests(): settles the mails sent by earlier
--                                          runs, then reads a batch and posts each mail with
--                                          net.http_post (sent by pgbase after the commit)
--
-- A message is deleted only once the provider has answered 2xx. Until then it stays in the
-- queue: each read hides it for retry_after_seconds and adds 1 to its read_ct, so a failing
-- provider shows up as growing read_ct values (select msg_id, read_ct from pgmq.q_digests).
-- After max_attempts (5) failed sends, the next read archives the message (pgmq.a_digests)
-- instead of sending it again.

select pgmq.create('digests');

-- One message per user who has open tasks (tasks not done, in the projects of every
-- organization the user belongs to) and has not turned the digest off in their profile:
--   {"user_id", "email", "display_name", "tasks": [{"id", "title", "project", "organization",
--    "due_at"}]}
-- A user whose previous digest is still queued (the provider has been failing) gets no second
-- one: the queued digest goes out when the provider recovers, and nobody gets a pile of them.
-- Returns the number of messages queued. The cron job calls it daily; call it yourself to send
-- the digest now: pgbase sql "select enqueue_daily_digest()" --dir examples/saas
create function public.enqueue_daily_digest() returns bigint
language plpgsql volatile security definer set search_path = ''
as $$
declare
  queued bigint;
begin
  with open_tasks as (
    select m.user_id,
           jsonb_agg(jsonb_build_object('id', t.id, 'title', t.title, 'project', p.name,
                                        'organization', o.name, 'due_at', t.due_at)
                     order by t.due_at nulls last, t.id) as tasks
    from public.memberships m
    join public.organizations o on o.id = m.organization_id
    join public.projects p on p.organization_id = m.organization_id
    join public.tasks t on t.project_id = p.id and not t.done
    group by m.user_id
  ), messages as (
    select jsonb_build_object('user_id', u.id, 'email', u.email,
                              'display_name', pr.display_name, 'tasks', ot.tasks) as msg
    from open_tasks ot
    join auth.users u on u.id = ot.user_id
    left join public.profiles pr on pr.user_id = ot.user_id
    where u.email is not null and coalesce(pr.email_digest, true)
      and not exists (select 1 from pgmq.q_digests q where q.message ->> 'user_id' = u.id::text)
  )
  select count(*) into queued
  from messages, lateral pgmq.send('digests', messages.msg);
  return queued;
end
$$;

-- Text made safe for the HTML part of a mail.
create function private.html_escape(s text) returns text
language sql immutable set search_path = ''
as $$
  select replace(replace(replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                         '"', '&quot;'), '''', '&#39;')
$$;

-- The mail of one digest message (text and HTML), in the JSON a mail API takes.
create function private.digest_mail(msg jsonb, from_address text) returns jsonb
language sql stable set search_path = ''
as $$
  with items as (
    select t ->> 'title' as title, t ->> 'project' as project, t ->> 'organization' as org,
           (t ->> 'due_at')::timestamptz as due_at, n
    from jsonb_array_elements(msg -> 'tasks') with ordinality as e(t, n)
  )
  select jsonb_build_object(
    'from', from_address,
    'to', msg ->> 'email',
    'subject', format('You have %s open task%s', count(*), case when count(*) = 1 then '' else 's' end),
    'text', format(e'Hello %s,\n\nyour open tasks:\n', coalesce(msg ->> 'display_name', msg ->> 'email'))
            || string_agg(format(e'- %s (%s / %s)%s\n', title, org, project,
                                 coalesce(' due ' || to_char(due_at at time zone 'UTC', 'YYYY-MM-DD'), '')),
                          '' order by n),
    'html', format('<p>Hello %s,</p><p>your open tasks:</p><ul>',
                   private.html_escape(coalesce(msg ->> 'display_name', msg ->> 'email')))
            || string_agg(format('<li>%s <small>(%s / %s)</small></li>', private.html_escape(title),
                                 private.html_escape(org), private.html_escape(project)),
                          '' order by n)
            || '</ul>')
  from items
$$;


-- One run of the deliver job. Returns what it did, e.g.
-- {"delivered": 2, "failed": 0, "sent": 1, "in_flight": 0, "archived": 0}:
--   delivered  messages deleted because their mail was answered 2xx
--   failed     mails answered otherwise (or not at all); their messages stay queued
--   sent       mails posted by this run (they leave when it commits)
--   in_flight  messages read again while their mail still awaits an answer (not sent twice)
--   archived   messages read more than max_attempts times, moved to pgmq.a_digests
create function public.deliver_digests() returns jsonb
language plpgsql volatile security definer set search_path = ''
as $$
declare
  settings private.mail_settings;
  target_url text := private.mail_provider_url();
  delivered_ids bigint[];
  failed bigint;
  sent bigint := 0;
  in_flight bigint := 0;
  archived bigint := 0;
  m record;
  req_id bigint;
begin
  select * into settings from private.mail_settings;

  -- 1. Settle the mails of earlier runs whose answer has arrived (or which were lost: neither
  --    queued nor answered any more). 2xx: the message is done. Anything else: it stays in
  --    the queue and is read again once its visibility timeout has passed.
  with settled as (
    select d.request_id, d.msg_id,
           coalesce(bool_or(r.status_code between 200 and 299), false) as ok
    from private.digest_deliveries d
    left join net._http_response r on r.id = d.request_id
    where r.id is not null
       or not exists (select 1 from net.http_request_queue q where q.id = d.request_id)
    group by d.request_id, d.msg_id
  ), gone as (
    delete from private.digest_deliveries d
    using settled s
    where d.request_id = s.request_id
    returning s.msg_id, s.ok
  )
  select array_agg(gone.msg_id) filter (where gone.ok), count(*) filter (where not gone.ok)
  into delivered_ids, failed
  from gone;
  if delivered_ids is not null then
    perform pgmq.delete('digests', delivered_ids);
  end if;

  -- 2. Send the next batch.
  if target_url is null then
    if (pgmq.metrics('digests')).queue_visible_length > 0 then
      raise exception 'no mail provider is configured, so the digests stay queued'
        using hint = 'update private.mail_settings set provider_url = ''https://…'', api_key = ''…'' '
                     '(pgbase dev points NULL at its mail sink through the setting pgbase.dev_mail_url)';
    end if;
  else
    for m in select * from pgmq.read('digests', settings.retry_after_seconds, settings.batch_size) loop
      if exists (select 1 from private.digest_deliveries d where d.msg_id = m.msg_id) then
        in_flight := in_flight + 1;         -- its mail has not been answered yet
      elsif m.read_ct > settings.max_attempts then
        perform pgmq.archive('digests', m.msg_id);
        archived := archived + 1;
      else
        req_id := net.http_post(
          url := target_url,
          body := private.digest_mail(m.message, settings.from_address),
          headers := jsonb_strip_nulls(jsonb_build_object(
            'Content-Type', 'application/json',
            'Authorization', 'Bearer ' || settings.api_key,
            'Idempotency-Key', format('digest-%s', m.msg_id))),
          timeout_milliseconds := 10000);
        insert into private.digest_deliveries (request_id, msg_id) values (req_id, m.msg_id);
        sent := sent + 1;
      end if;
    end loop;
  end if;

  return jsonb_build_object('delivered', coalesce(cardinality(delivered_ids), 0),
                            'failed', failed, 'sent', sent, 'in_flight', in_flight,
                            'archived', archived);
end
$$;

-- Only the service role (and the jobs, which run as the role that scheduled them: the one
-- that applies the migrations) may queue or send digests: not anon, not authenticated.
revoke execute on function public.enqueue_daily_digest(), public.deliver_digests() from public, anon, authenticated;
grant execute on function public.enqueue_daily_digest(), public.deliver_digests() to service_role;
revoke execute on function private.digest_mail(jsonb, text), private.html_escape(text) from public;

select cron.schedule('daily-digest', '0 7 * * *', $$select public.enqueue_daily_digest()$$);
select cron.schedule('deliver-digests', '10 seconds', $$select public.deliver_digests()$$);
