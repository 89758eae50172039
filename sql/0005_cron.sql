-- pgbase system schema 0005_cron: job scheduling with the SQL API of pg_cron 1.6, in plain SQL.
-- The SQL side only stores and validates jobs; the scheduler runs in pgbase (crate pgbase-jobs):
-- one leader per database (advisory lock) fires due jobs, each as the role that scheduled it, in
-- its own transaction, and logs every run in cron.job_run_details.
--
-- Users see and change only their own jobs (row-level security on both tables, as upstream);
-- superusers and BYPASSRLS roles see all. Jobs run in this database only: pgbase has one
-- scheduler per database, so schedule_in_database accepts only the current database.
-- Changes to cron.job NOTIFY the channel `cron_job_changed`, and the scheduler reloads.

create schema if not exists cron;
comment on schema cron is 'pg_cron-compatible job scheduler (pgbase, no extension)';
grant usage on schema cron to public;

create sequence cron.jobid_seq;
create sequence cron.runid_seq;
grant usage on sequence cron.jobid_seq, cron.runid_seq to public;

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
grant select, insert, update, delete on cron.job to public;
grant select, delete on cron.job_run_details to public;

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

-- As upstream: alter_job and schedule_in_database are not for everyone.
revoke execute on function cron.alter_job(bigint, text, text, text, text, boolean) from public;
revoke execute on function cron.schedule_in_database(text, text, text, text, text, boolean) from public;
grant execute on function cron.alter_job(bigint, text, text, text, text, boolean) to service_role;
grant execute on function cron.schedule_in_database(text, text, text, text, text, boolean) to service_role;

-- The scheduler runs the command of a job owned by a non-superuser through a SECURITY DEFINER
-- function owned by that user, `cron._run_as_<role oid>(command)`: inside it the command runs
-- as the user and cannot `SET ROLE`, `RESET ROLE` or `SET SESSION AUTHORIZATION` back to
-- pgbase's own login (Postgres forbids those in security-definer functions). This returns that
-- function, creating it on first use; only pgbase's login may call it (or the runners).
create function cron._runner_for(username text) returns regprocedure
language plpgsql as $runner$
declare
  role_oid oid;
  fn text;
begin
  select oid into role_oid from pg_roles where rolname = username;
  if role_oid is null then
    raise exception 'role "%" does not exist', username;
  end if;
  fn := format('cron.%I(text)', '_run_as_' || role_oid);
  if to_regprocedure(fn) is null then
    perform pg_advisory_xact_lock(hashtext('pgbase_cron_runner'), role_oid::int);
    -- (another run may have created it meanwhile; the catalog snapshot may not show it yet)
    begin
      execute format($f$
        create function cron.%I(command text) returns bigint
        language plpgsql security definer as $body$
        declare
          n bigint;
        begin
          execute command;
          get diagnostics n = row_count;
          return n;
        end
        $body$ $f$, '_run_as_' || role_oid);
      execute format('revoke all on function %s from public', fn);
      execute format('alter function %s owner to %I', fn, username);
    exception when duplicate_function then
      null;
    end;
  end if;
  return to_regprocedure(fn);
end
$runner$;
revoke execute on function cron._runner_for(text) from public;
