-- pgbase system schema upgrade of 0004_pgmq.sql: brings the queue schema of a database that
-- applied an earlier text of 0004 (the first release onwards) to the current text, in place.
--
-- Run by `pgbase migrate` (and serve/dev start-up) under the migration lock, in one transaction,
-- only when the probe in crates/pgbase-migrate/src/system.rs finds a piece of the current 0004
-- missing; every statement is idempotent (if not exists / or replace), so a database part-way
-- between releases is brought forward too. Queue tables and their messages are not touched.
-- Queues created by the first release keep their `vt` index (harmless; later releases leave it
-- out for cheaper reads). 0007_safety.sql then applies on top, as on a new database.

-- Per-queue NOTIFY settings; a queue without a row notifies on every send (the default).
create table if not exists pgmq.notify_insert_settings (
  queue_name text primary key,
  enabled boolean not null,
  throttle_interval_ms integer not null default 0,
  last_notified_at timestamptz not null default to_timestamp(0)
);
grant select on pgmq.notify_insert_settings to public;

create or replace function pgmq.disable_notify_insert(queue_name text) returns void
language sql as $$
  insert into pgmq.notify_insert_settings (queue_name, enabled)
  values (disable_notify_insert.queue_name, false)
  on conflict on constraint notify_insert_settings_pkey do update set enabled = false;
$$;

create or replace function pgmq.enable_notify_insert(queue_name text, throttle_interval_ms integer default 0)
returns void language plpgsql as $$
begin
  if throttle_interval_ms is null or throttle_interval_ms < 0 then
    raise exception 'throttle_interval_ms must be non-negative';
  end if;
  insert into pgmq.notify_insert_settings (queue_name, enabled, throttle_interval_ms)
  values (enable_notify_insert.queue_name, true, enable_notify_insert.throttle_interval_ms)
  on conflict on constraint notify_insert_settings_pkey do update
    set enabled = true, throttle_interval_ms = excluded.throttle_interval_ms,
        last_notified_at = to_timestamp(0);
end
$$;

-- NOTIFY the listeners of a queue after a send, as its settings say (`_send_one` inlines the
-- common cases). Security definer: a throttled send records when it notified, which a role
-- granted only its queue's tables may not write itself.
create or replace function pgmq._notify_insert(queue_name text, qtable text) returns void
language plpgsql security definer set search_path = pg_catalog, pgmq as $$
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
grant all on pgmq.notify_insert_settings to service_role;
grant select on pgmq.notify_insert_settings to pg_monitor;

create or replace function pgmq._create_tables(queue_name text, unlogged boolean) returns void
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
  kind text := case when unlogged then 'unlogged' else '' end;
begin
  perform pgmq.validate_queue_name(queue_name);
  perform pgmq.acquire_queue_lock(queue_name);
  execute format($q$
    create %s table if not exists pgmq.%I (
      msg_id bigint primary key generated always as identity,
      read_ct int not null default 0,
      enqueued_at timestamptz not null default now(),
      vt timestamptz not null,
      message jsonb,
      headers jsonb
    )$q$, kind, qtable);
  execute format($q$
    create table if not exists pgmq.%I (
      msg_id bigint primary key,
      read_ct int not null default 0,
      enqueued_at timestamptz not null default now(),
      archived_at timestamptz not null default now(),
      vt timestamptz not null,
      message jsonb,
      headers jsonb
    )$q$, atable);
  -- No index on vt (upstream has one): reads walk the primary key in msg_id order anyway, and
  -- without it the vt/read_ct update of every read is a HOT update, with no index writes.
  execute format('create index if not exists %I on pgmq.%I (archived_at)', 'archived_at_idx_' || atable, atable);
  insert into pgmq.meta (queue_name, is_partitioned, is_unlogged)
  values (queue_name, false, unlogged)
  on conflict on constraint meta_queue_name_key do nothing;
end
$$;

create or replace function pgmq.drop_queue(queue_name text) returns boolean
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
begin
  perform pgmq.acquire_queue_lock(queue_name);
  if not exists (select from pgmq.meta m where m.queue_name = drop_queue.queue_name) then
    raise notice 'pgmq queue `%` does not exist', queue_name;
    return false;
  end if;
  execute format('drop table if exists pgmq.%I cascade', qtable);
  execute format('drop table if exists pgmq.%I cascade', atable);
  delete from pgmq.meta m where m.queue_name = drop_queue.queue_name;
  delete from pgmq.notify_insert_settings n where n.queue_name = drop_queue.queue_name;
  return true;
end
$$;

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
    perform pgmq._notify_insert(queue_name, qtable);
  end if;
end
$$;

create or replace function pgmq._send(queue_name text, msgs jsonb[], headers jsonb[], vt timestamptz)
returns setof bigint
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
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
  perform pgmq._notify_insert(queue_name, qtable);
end
$$;

create or replace function pgmq.send(queue_name text, msg jsonb) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, null, null); end $$;

create or replace function pgmq.send(queue_name text, msg jsonb, delay integer) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, null, pgmq._delay(delay)); end $$;

create or replace function pgmq.send(queue_name text, msg jsonb, delay timestamptz) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, null, delay); end $$;

create or replace function pgmq.send(queue_name text, msg jsonb, headers jsonb) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, headers, null); end $$;

create or replace function pgmq.send(queue_name text, msg jsonb, headers jsonb, delay integer) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, headers, pgmq._delay(delay)); end $$;

create or replace function pgmq.send(queue_name text, msg jsonb, headers jsonb, delay timestamptz) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, headers, delay); end $$;


create or replace function pgmq.read(queue_name text, vt integer, qty integer, conditional jsonb default '{}')
returns setof pgmq.message_record
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
begin
  -- One UPDATE over the oldest visible unlocked rows; without a condition the message filter
  -- is left out of the statement altogether.
  return query execute format($q$
    with cte as (
      select msg_id from pgmq.%I
      where vt <= clock_timestamp()%s
      order by msg_id
      limit $1
      for update skip locked
    )
    update pgmq.%I m
    set vt = clock_timestamp() + make_interval(secs => $2), read_ct = m.read_ct + 1
    from cte where m.msg_id = cte.msg_id
    returning m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message, m.headers$q$,
    qtable,
    case when conditional is null or conditional = '{}'::jsonb then '' else ' and message @> $3' end,
    qtable)
    using qty, vt, conditional;
end
$$;

create or replace function pgmq.delete(queue_name text, msg_id bigint) returns boolean
language plpgsql as $$
declare
  deleted bigint;
begin
  execute format('delete from pgmq.%I where msg_id = $1 returning msg_id',
                 pgmq.format_table_name(queue_name, 'q'))
    using msg_id into deleted;
  return deleted is not null;
end
$$;


-- ---------------------------------------------------------------------------------------------
-- pgmq_public: the wrappers Supabase installs when queues are exposed through its REST API
-- (`supabase.schema('pgmq_public').rpc('send', {...})`). They run as the caller, so a role
-- reaches only the queues whose tables it was granted; add `pgmq_public` to the REST schemas
-- to expose them.

create schema if not exists pgmq_public;
grant usage on schema pgmq_public to anon, authenticated, service_role;
-- The wrappers call into pgmq: the API roles may resolve names there, nothing more (queue tables
-- are granted per queue, e.g. `grant select, insert, update, delete on pgmq.q_jobs to authenticated`).
grant usage on schema pgmq to anon, authenticated;

create or replace function pgmq_public.send(queue_name text, message jsonb, sleep_seconds integer default 0)
returns setof bigint
language sql set search_path = '' as $$
  select * from pgmq.send(queue_name := queue_name, msg := message, delay := sleep_seconds);
$$;

create or replace function pgmq_public.send_batch(queue_name text, messages jsonb[], sleep_seconds integer default 0)
returns setof bigint
language sql set search_path = '' as $$
  select * from pgmq.send_batch(queue_name := queue_name, msgs := messages, delay := sleep_seconds);
$$;

create or replace function pgmq_public.read(queue_name text, sleep_seconds integer, n integer)
returns setof pgmq.message_record
language sql set search_path = '' as $$
  select * from pgmq.read(queue_name := queue_name, vt := sleep_seconds, qty := n);
$$;

create or replace function pgmq_public.pop(queue_name text)
returns setof pgmq.message_record
language sql set search_path = '' as $$
  select * from pgmq.pop(queue_name := queue_name);
$$;

create or replace function pgmq_public.archive(queue_name text, message_id bigint)
returns boolean
language sql set search_path = '' as $$
  select pgmq.archive(queue_name := queue_name, msg_id := message_id);
$$;

create or replace function pgmq_public.delete(queue_name text, message_id bigint)
returns boolean
language sql set search_path = '' as $$
  select pgmq.delete(queue_name := queue_name, msg_id := message_id);
$$;
