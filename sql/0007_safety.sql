-- pgbase system schema 0007: safety upgrade of the queue and the scheduler (issue #10).
--
-- Applied after 0004_pgmq.sql and 0005_cron.sql, on new databases and on databases that applied
-- those files with an earlier pgbase alike, so both end up the same.
--
-- pgmq: `_notify_insert` no longer runs as SECURITY DEFINER and is not callable by the API
-- roles; a throttled send records its notification as the sender, under row-level security.
--
-- cron: who may use it, as Supabase: service_role and the database owner, not anon or
-- authenticated (an administrator may grant the schema, tables and functions to other roles).
-- A job runs as its `username`, so that column is guarded whoever writes the row (function or
-- plain INSERT/UPDATE, BYPASSRLS or not): a trigger refuses a `username` other than the
-- writer's own unless the writer could `SET ROLE` to it, and refuses a change of `command` or
-- `username` of a job whose user the writer could not `SET ROLE` to. It also records the
-- writer of the command in `scheduled_by` (pgbase addition; the value written is ignored), and
-- the scheduler refuses to run a job as a superuser unless `scheduled_by` is a superuser too.
-- Jobs that existed before this file count as scheduled by their own user.
--
-- net (no schema change): response bodies are capped by pgbase's net worker setting
-- `net_max_response_bytes` (10 MB by default): a longer body is stored cut at the cap, with its
-- status and headers, and `error_msg = 'response body truncated at N bytes'` (so
-- `http_collect_response` reports it as an ERROR with that message). A response Postgres refuses
-- to store is stored as its status and `error_msg = 'could not store the response: ...'`; either
-- way the request is not sent again.

-- ---------------------------------------------------------------------------------------------
-- pgmq

-- A throttled send records when it last notified. Senders run as themselves, so a role granted
-- only its queue's tables may update `last_notified_at` of that queue (and nothing else): the
-- column is granted to everyone, and row-level security limits it to the queues whose table the
-- role may insert into. service_role (and the owner) manage the settings.
alter table pgmq.notify_insert_settings enable row level security;
create policy notify_insert_settings_read on pgmq.notify_insert_settings
  for select using (true);
create policy notify_insert_settings_throttle on pgmq.notify_insert_settings
  for update
  using (coalesce(has_table_privilege(
           to_regclass(format('pgmq.%I', pgmq.format_table_name(queue_name, 'q'))), 'INSERT'), false))
  with check (coalesce(has_table_privilege(
           to_regclass(format('pgmq.%I', pgmq.format_table_name(queue_name, 'q'))), 'INSERT'), false));
create policy notify_insert_settings_manage on pgmq.notify_insert_settings
  for all to service_role using (true) with check (true);
grant update (last_notified_at) on pgmq.notify_insert_settings to public;


-- NOTIFY the listeners of a queue after a send, as its settings say (`_send_one` and `_send`
-- inline this). Runs as the caller; internal, so not callable by the API roles.
create or replace function pgmq._notify_insert(queue_name text, qtable text) returns void
language plpgsql set search_path = pg_catalog, pgmq as $$
declare
  enabled boolean;
  throttle integer;
begin
  select n.enabled, n.throttle_interval_ms into enabled, throttle
  from pgmq.notify_insert_settings n where n.queue_name = _notify_insert.queue_name;
  if not found or (enabled and throttle = 0) then
    perform pg_notify('pgmq.' || qtable || '.INSERT', '');
  elsif enabled then
    update pgmq.notify_insert_settings n set last_notified_at = clock_timestamp()
    where n.queue_name = _notify_insert.queue_name
      and n.last_notified_at <= clock_timestamp() - make_interval(secs => throttle / 1000.0);
    if found then
      perform pg_notify('pgmq.' || qtable || '.INSERT', '');
    end if;
  end if;
end
$$;
revoke execute on function pgmq._notify_insert(text, text) from public;

-- One message: the path of every `send` (no arrays, no wrapper layers).
create or replace function pgmq._send_one(queue_name text, msg jsonb, headers jsonb, vt timestamptz)
returns setof bigint
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
  enabled boolean;
  throttle integer;
begin
  return query execute format(
    'insert into pgmq.%I (vt, message, headers) values ($1, $2, $3) returning msg_id', qtable)
    using coalesce(vt, clock_timestamp()), msg, headers;
  select n.enabled, n.throttle_interval_ms into enabled, throttle
  from pgmq.notify_insert_settings n where n.queue_name = _send_one.queue_name;
  if not found or (enabled and throttle = 0) then
    perform pg_notify('pgmq.' || qtable || '.INSERT', '');
  elsif enabled then
    update pgmq.notify_insert_settings n set last_notified_at = clock_timestamp()
    where n.queue_name = _send_one.queue_name
      and n.last_notified_at <= clock_timestamp() - make_interval(secs => throttle / 1000.0);
    if found then
      perform pg_notify('pgmq.' || qtable || '.INSERT', '');
    end if;
  end if;
end
$$;

create or replace function pgmq._send(queue_name text, msgs jsonb[], headers jsonb[], vt timestamptz)
returns setof bigint
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
  enabled boolean;
  throttle integer;
begin
  if msgs is null or cardinality(msgs) = 0 then
    raise exception 'msgs cannot be NULL or empty';
  end if;
  if headers is not null and cardinality(headers) <> cardinality(msgs) then
    raise exception 'headers array length (%) must match msgs array length (%)',
      cardinality(headers), cardinality(msgs);
  end if;
  return query execute format($q$
    with ins as (
      insert into pgmq.%I (vt, message, headers)
      select $1, m.msg, $2[m.ord]
      from unnest($3) with ordinality as m(msg, ord)
      order by m.ord
      returning msg_id
    )
    select msg_id from ins order by msg_id$q$, qtable)
    using coalesce(vt, clock_timestamp()), headers, msgs;
  select n.enabled, n.throttle_interval_ms into enabled, throttle
  from pgmq.notify_insert_settings n where n.queue_name = _send.queue_name;
  if not found or (enabled and throttle = 0) then
    perform pg_notify('pgmq.' || qtable || '.INSERT', '');
  elsif enabled then
    update pgmq.notify_insert_settings n set last_notified_at = clock_timestamp()
    where n.queue_name = _send.queue_name
      and n.last_notified_at <= clock_timestamp() - make_interval(secs => throttle / 1000.0);
    if found then
      perform pg_notify('pgmq.' || qtable || '.INSERT', '');
    end if;
  end if;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- cron

alter table cron.job add column scheduled_by text;
update cron.job set scheduled_by = username;
alter table cron.job alter column scheduled_by set default current_user,
                     alter column scheduled_by set not null;
comment on column cron.job.scheduled_by is
  'pgbase: the role that wrote command/username (set by cron._job_owner, never by the writer)';

-- The owner guard (see the header). Runs as the writer: `current_user` is the role that
-- inserts or updates (inside a job's runner, the job's user; never pgbase's login).
create function cron._job_owner() returns trigger
language plpgsql set search_path = pg_catalog, pg_temp as $$
begin
  if tg_op = 'INSERT' then
    new.username := coalesce(new.username, current_user);
  elsif new.username is not distinct from old.username
        and new.command is not distinct from old.command then
    -- Schedule, name or activity: the command keeps its author.
    new.scheduled_by := old.scheduled_by;
    return new;
  else
    new.username := coalesce(new.username, old.username);
    if old.username is distinct from current_user
       and not (exists (select from pg_roles where rolname = old.username)
                and pg_has_role(current_user, old.username, 'MEMBER')) then
      raise exception 'permission denied to change the command or user of job % of role "%"', old.jobid, old.username
        using errcode = '42501',
              hint = 'Only the job''s role, or a role that may SET ROLE to it, may change what the job runs.';
    end if;
  end if;
  if new.username is distinct from current_user then
    if not exists (select from pg_roles where rolname = new.username) then
      raise exception 'role "%" does not exist', new.username using errcode = '42704';
    end if;
    if not pg_has_role(current_user, new.username, 'MEMBER') then
      raise exception 'permission denied to schedule a job as role "%"', new.username
        using errcode = '42501',
              hint = 'A job runs as the role that scheduled it; only a role that may SET ROLE to another may schedule jobs for it.';
    end if;
  end if;
  new.scheduled_by := current_user;
  return new;
end
$$;
create trigger cron_job_owner before insert or update on cron.job
  for each row execute function cron._job_owner();

-- The scheduler runs the command of a job owned by a non-superuser through a SECURITY DEFINER
-- function owned by that user, `cron_runner._run_as_<role oid>(command)`, called from pgbase's
-- own session without switching roles: inside it the command runs as the user and cannot
-- `SET ROLE`, `RESET ROLE` or `SET SESSION AUTHORIZATION` back to pgbase's login (Postgres
-- forbids those in security-definer functions). The runners live in schema `cron_runner`, which
-- nobody but pgbase's login may use, so their owners cannot reach them by name to ALTER them
-- (e.g. to SECURITY INVOKER); this also checks, on every run, that a runner is still a plain
-- security definer owned by the user, and rebuilds it otherwise. This returns that function,
-- creating it on first use; only pgbase's login may call it.
create schema if not exists cron_runner;
comment on schema cron_runner is 'pgbase: the security-definer runners of cron jobs (private)';
revoke all on schema cron_runner from public;

create or replace function cron._runner_for(username text) returns regprocedure
language plpgsql set search_path = pg_catalog, pg_temp as $runner$
declare
  role_oid oid;
  name text;
  fn text;
  proc regprocedure;
begin
  select oid into role_oid from pg_roles where rolname = username;
  if role_oid is null then
    raise exception 'role "%" does not exist', username;
  end if;
  name := '_run_as_' || role_oid;
  fn := format('cron_runner.%I(text)', name);
  proc := to_regprocedure(fn);
  if proc is not null and not exists (
       select from pg_proc p
       where p.oid = proc and p.prosecdef and p.proowner = role_oid and p.proconfig is null
         and p.prolang = (select oid from pg_language where lanname = 'plpgsql')
         and p.prosrc like '%execute command;%get diagnostics n = row_count;%') then
    -- Tampered with (or left by an older pgbase): rebuild it.
    perform pg_advisory_xact_lock(hashtext('pgbase_cron_runner'), role_oid::int);
    execute format('drop function if exists %s', fn);
    proc := null;
  end if;
  if proc is null then
    perform pg_advisory_xact_lock(hashtext('pgbase_cron_runner'), role_oid::int);
    -- (another run may have created it meanwhile; the catalog snapshot may not show it yet)
    begin
      execute format($f$
        create function cron_runner.%I(command text) returns bigint
        language plpgsql security definer as $body$
        declare
          n bigint;
        begin
          execute command;
          get diagnostics n = row_count;
          return n;
        end
        $body$ $f$, name);
      execute format('revoke all on function %s from public', fn);
      execute format('alter function %s owner to %I', fn, username);
    exception when duplicate_function then
      null;
    end;
    proc := to_regprocedure(fn);
  end if;
  return proc;
end
$runner$;
revoke execute on function cron._runner_for(text) from public;

-- Runners an earlier pgbase left in schema cron are not used any more.
do $old_runners$
declare
  fn regprocedure;
begin
  for fn in select p.oid::regprocedure from pg_proc p
            where p.pronamespace = 'cron'::regnamespace and p.proname like '\_run\_as\_%'
  loop
    begin
      execute format('drop function %s', fn);
    exception when insufficient_privilege then
      null; -- owned by a role this login may not act for; unused and not executable anyway
    end;
  end loop;
end
$old_runners$;
-- ---------------------------------------------------------------------------------------------
-- Privileges, as Supabase: the cron API belongs to service_role and the database owner (who may
-- grant it on); anon and authenticated get nothing. pgbase's own login runs the runners.

revoke all on schema cron from public;
revoke all on all tables in schema cron from public;
revoke all on all sequences in schema cron from public;
revoke all on all functions in schema cron from public;

grant usage on schema cron to service_role;
grant select, insert, update, delete on cron.job to service_role;
grant select, delete on cron.job_run_details to service_role;
grant usage on sequence cron.jobid_seq, cron.runid_seq to service_role;
grant execute on all functions in schema cron to service_role;
revoke execute on function cron._runner_for(text) from service_role;

do $owner$
declare
  owner_role name := (select pg_get_userbyid(datdba) from pg_database where datname = current_database());
begin
  execute format('grant usage on schema cron to %I with grant option', owner_role);
  execute format('grant select, insert, update, delete on cron.job to %I with grant option', owner_role);
  execute format('grant select, delete on cron.job_run_details to %I with grant option', owner_role);
  execute format('grant usage on sequence cron.jobid_seq, cron.runid_seq to %I with grant option', owner_role);
  execute format('grant execute on all functions in schema cron to %I with grant option', owner_role);
end
$owner$;
