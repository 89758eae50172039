-- pgbase system schema 0005_cron: job scheduling with the SQL API of pg_cron 1.6, in plain SQL.
-- The SQL side only stores and validates jobs; the scheduler runs in pgbase (crate pgbase-jobs):
-- one leader per database (advisory lock) fires due jobs, each as the role that scheduled it, in
-- its own transaction, and logs every run in cron.job_run_details.
--
-- Users see and change only their own jobs (row-level security on both tables, as upstream);
-- superusers and BYPASSRLS roles see all. Jobs run in this database only: pgbase has one
-- scheduler per database, so schedule_in_database accepts only the current database.
-- Changes to cron.job NOTIFY the channel `cron_job_changed`, and the scheduler reloads.
--
-- Who may use it (as Supabase): service_role and the database owner, not anon/authenticated;
-- an administrator may grant the schema, tables and functions to other roles.
--
-- A job runs as its `username`, so that column is guarded whoever writes the row (function or
-- plain INSERT/UPDATE, BYPASSRLS or not): a trigger refuses a `username` other than the
-- writer's own unless the writer could `SET ROLE` to it, and refuses a change of `command` or
-- `username` of a job whose user the writer could not `SET ROLE` to. It also records the
-- writer of the command in `scheduled_by` (pgbase addition; the value written is ignored), and
-- the scheduler refuses to run a job as a superuser unless `scheduled_by` is a superuser too.

create schema if not exists cron;
comment on schema cron is 'pg_cron-compatible job scheduler (pgbase, no extension)';

create sequence cron.jobid_seq;
create sequence cron.runid_seq;

-- The schedule syntax of pg_cron 1.6: five cron fields (lists, ranges, steps, month and weekday
-- names, `$` = last day of the month), the @-specials, or an interval '1 seconds' .. '59 seconds'.
-- Returns the schedule unchanged when valid, raises `invalid schedule: ...` otherwise.
create function cron._validate_schedule(schedule text) returns text
language plpgsql immutable as $$
declare
  fields text[];
  lows int[] := array[0, 0, 1, 1, 0];
  highs int[] := array[59, 23, 31, 12, 7];
  names text[];
  f int;
  item text;
  m text[];
  lo int;
  hi int;
  step int;
  val text;
  ok boolean := true;
begin
  if schedule is null or length(schedule) >= 1000 then
    ok := false;
  elsif schedule ~* '^\s*[0-9]+\s+seconds?\s*$' then
    val := substring(schedule from '[0-9]+');
    ok := length(val) <= 3 and val::int between 1 and 59;
  elsif btrim(schedule) ~ '^@' then
    ok := btrim(schedule) in ('@reboot', '@restart', '@yearly', '@annually', '@monthly',
                              '@weekly', '@daily', '@midnight', '@hourly');
  else
    fields := regexp_split_to_array(btrim(schedule), '\s+');
    if cardinality(fields) <> 5 then
      ok := false;
    else
      <<fieldloop>>
      for f in 1 .. 5 loop
        foreach item in array string_to_array(lower(fields[f]), ',') loop
          -- month and weekday names become numbers
          if f = 4 then
            names := array['jan','feb','mar','apr','may','jun','jul','aug','sep','oct','nov','dec'];
          elsif f = 5 then
            names := array['sun','mon','tue','wed','thu','fri','sat'];
          else
            names := null;
          end if;
          if names is not null then
            for lo in 1 .. cardinality(names) loop
              item := replace(item, names[lo], (lo - case when f = 5 then 1 else 0 end)::text);
            end loop;
          end if;
          if f = 3 and item = '$' then
            continue;
          end if;
          m := regexp_match(item, '^(\*|[0-9]{1,2}(?:-[0-9]{1,2})?)(?:/([0-9]{1,10}))?$');
          if m is null then
            ok := false;
            exit fieldloop;
          end if;
          if m[1] = '*' then
            lo := lows[f];
            hi := highs[f];
          else
            lo := split_part(m[1], '-', 1)::int;
            hi := coalesce(nullif(split_part(m[1], '-', 2), ''), split_part(m[1], '-', 1))::int;
            if lo < lows[f] or hi > highs[f] or lo > hi then
              ok := false;
              exit fieldloop;
            end if;
          end if;
          if m[2] is not null then
            if m[2]::bigint < 1 or m[2]::bigint > highs[f] - lows[f] then
              ok := false;
              exit fieldloop;
            end if;
          end if;
        end loop;
      end loop;
    end if;
  end if;
  if not ok then
    raise exception 'invalid schedule: %', schedule
      using hint = 'Use cron format (e.g. 5 4 * * *), or interval format ''[1-59] seconds''';
  end if;
  return schedule;
end
$$;

create table cron.job (
  jobid bigint primary key default nextval('cron.jobid_seq'),
  schedule text not null,
  command text not null,
  nodename text not null default 'localhost',
  nodeport int not null default coalesce(inet_server_port(), current_setting('port')::int),
  database text not null default current_database(),
  username text not null default current_user,
  active boolean not null default true,
  jobname text,
  -- pgbase: the role that wrote `command`/`username` (set by cron._job_owner, never by the writer)
  scheduled_by text not null default current_user,
  constraint jobname_username_uniq unique (jobname, username)
);
alter sequence cron.jobid_seq owned by cron.job.jobid;

create table cron.job_run_details (
  jobid bigint,
  runid bigint primary key default nextval('cron.runid_seq'),
  job_pid integer,
  database text,
  username text,
  command text,
  status text,
  return_message text,
  start_time timestamptz,
  end_time timestamptz
);
alter sequence cron.runid_seq owned by cron.job_run_details.runid;
create index job_run_details_start_time_idx on cron.job_run_details (start_time);
create index job_run_details_jobid_idx on cron.job_run_details (jobid, runid);

-- Rows changed directly (not through the functions) are validated too.
create function cron._job_check() returns trigger
language plpgsql as $$
begin
  perform cron._validate_schedule(new.schedule);
  return new;
end
$$;
create trigger cron_job_check before insert or update of schedule on cron.job
  for each row execute function cron._job_check();

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

create function cron.job_cache_invalidate() returns trigger
language plpgsql as $$
begin
  perform pg_notify('cron_job_changed', '');
  return null;
end
$$;
create trigger cron_job_cache_invalidate after insert or update or delete or truncate on cron.job
  for each statement execute function cron.job_cache_invalidate();

-- Users work on their own jobs only. The functions run as the caller, so these policies are
-- what keeps one user from scheduling, seeing or changing another's jobs.
alter table cron.job enable row level security;
alter table cron.job_run_details enable row level security;
create policy cron_job_policy on cron.job
  using (username = current_user) with check (username = current_user);
create policy cron_job_run_details_policy on cron.job_run_details
  using (username = current_user);

-- ---------------------------------------------------------------------------------------------
-- Functions

create function cron.schedule(schedule text, command text) returns bigint
language plpgsql as $$
declare
  id bigint;
begin
  perform cron._validate_schedule(schedule);
  insert into cron.job (schedule, command) values (schedule, command) returning jobid into id;
  return id;
end
$$;

create function cron.schedule(job_name text, schedule text, command text) returns bigint
language plpgsql as $$
declare
  id bigint;
begin
  perform cron._validate_schedule(schedule);
  insert into cron.job as j (schedule, command, jobname)
  values (schedule, command, job_name)
  on conflict on constraint jobname_username_uniq do update
    set schedule = excluded.schedule, command = excluded.command, database = excluded.database
  returning j.jobid into id;
  return id;
end
$$;

create function cron._check_database(database text) returns void
language plpgsql stable as $$
begin
  if database is distinct from current_database() then
    raise exception 'cannot schedule a job in database "%": pgbase runs the jobs of database "%" only', database, current_database()
      using hint = 'Schedule the job in the database where it should run; every database gets its own cron schema and scheduler.';
  end if;
end
$$;

create function cron._check_username(username text) returns void
language plpgsql stable as $$
begin
  if username is not null and username <> current_user
     and not exists (select from pg_roles where rolname = current_user and rolsuper) then
    raise exception 'must be superuser to create a job for another role';
  end if;
  if username is not null and not exists (select from pg_roles where rolname = username) then
    raise exception 'role "%" does not exist', username;
  end if;
end
$$;

create function cron.schedule_in_database(
  job_name text,
  schedule text,
  command text,
  database text,
  username text default null,
  active boolean default true
) returns bigint
language plpgsql as $$
declare
  id bigint;
  who text := coalesce(username, current_user);
begin
  perform cron._validate_schedule(schedule);
  perform cron._check_database(database);
  perform cron._check_username(username);
  insert into cron.job as j (schedule, command, jobname, database, username, active)
  values (schedule, command, job_name, database, who, coalesce(active, true))
  on conflict on constraint jobname_username_uniq do update
    set schedule = excluded.schedule, command = excluded.command,
        database = excluded.database, active = excluded.active
  returning j.jobid into id;
  return id;
end
$$;

create function cron.unschedule(job_id bigint) returns boolean
language plpgsql as $$
begin
  delete from cron.job where jobid = job_id;
  if not found then
    raise exception 'could not find valid entry for job %', job_id;
  end if;
  return true;
end
$$;

create function cron.unschedule(job_name text) returns boolean
language plpgsql as $$
begin
  delete from cron.job where jobname = job_name and username = current_user;
  if not found then
    raise exception 'could not find valid entry for job ''%''', job_name;
  end if;
  return true;
end
$$;

create function cron.alter_job(
  job_id bigint,
  schedule text default null,
  command text default null,
  database text default null,
  username text default null,
  active boolean default null
) returns void
language plpgsql as $$
begin
  if schedule is null and command is null and database is null and username is null and active is null then
    raise exception 'no updates specified'
      using hint = 'You must specify at least one job attribute to change when calling alter_job';
  end if;
  if schedule is not null then
    perform cron._validate_schedule(schedule);
  end if;
  if database is not null then
    perform cron._check_database(database);
  end if;
  if username is not null and username <> current_user
     and not exists (select from pg_roles where rolname = current_user and rolsuper) then
    raise exception 'must be superuser to alter username';
  end if;
  update cron.job j set
    schedule = coalesce(alter_job.schedule, j.schedule),
    command = coalesce(alter_job.command, j.command),
    database = coalesce(alter_job.database, j.database),
    username = coalesce(alter_job.username, j.username),
    active = coalesce(alter_job.active, j.active)
  where j.jobid = job_id;
  if not found then
    raise exception 'Job % does not exist or you don''t own it', job_id;
  end if;
end
$$;


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

create function cron._runner_for(username text) returns regprocedure
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
