-- pgbase system schema 0004_pgmq: a message queue with the SQL API of pgmq 1.5 (as Supabase
-- ships it), in plain SQL and PL/pgSQL: no extension, nothing running in the pgbase process.
--
-- Every queue `name` has a table `pgmq.q_<lower(name)>` (messages) and `pgmq.a_<lower(name)>`
-- (archive); `pgmq.meta` lists the queues with the name as given. Delivery is at-least-once:
-- `read` hides a message for `vt` seconds and a message neither deleted nor archived by then
-- becomes readable again with `read_ct + 1`. Readers take rows FOR UPDATE SKIP LOCKED, so
-- concurrent consumers never receive the same message within one visibility window; among the
-- visible messages, lower `msg_id` first.
--
-- Addition to upstream: every `send`/`send_batch` calls
--   pg_notify('pgmq.q_<lower(name)>.INSERT', '')
-- (the channel upstream's `enable_notify_insert` uses), so a consumer may `LISTEN
-- "pgmq.q_myqueue.INSERT"` instead of polling. Notifications are delivered at commit and
-- collapse to one per transaction; delayed messages notify at send time, not when they become
-- visible, so a listener should still poll slowly (or re-read after the delay).
-- `pgmq.disable_notify_insert(queue)` turns this off for a queue (NOTIFY serialises the commits
-- of concurrent producers: a queue nobody LISTENs to is faster without it);
-- `pgmq.enable_notify_insert(queue, throttle_interval_ms)` turns it back on, at most one
-- notification per interval when the interval is above 0 (upstream's throttle: a listener must
-- then also re-read at that interval, as a send inside the interval does not notify).
--
-- Partitioned queues (`create_partitioned`) use native range partitioning (no pg_partman): by
-- `msg_id` when the interval is an integer, otherwise by `enqueued_at` (archive by
-- `archived_at`). Partitions are created ahead (`premake`) plus a default partition that catches
-- anything beyond; `pgmq.run_maintenance()` creates the next partitions and drops those past the
-- retention. The pgbase cron leader calls it every minute.

create schema if not exists pgmq;
comment on schema pgmq is 'pgmq-compatible message queues (pgbase, no extension)';

create table if not exists pgmq.meta (
  queue_name varchar unique not null,
  is_partitioned boolean not null,
  is_unlogged boolean not null,
  created_at timestamptz not null default now()
);

-- pgbase addition: the settings of partitioned queues (upstream keeps them in pg_partman).
create table if not exists pgmq.partition_config (
  queue_name varchar primary key references pgmq.meta (queue_name) on delete cascade,
  partition_column text not null check (partition_column in ('msg_id', 'enqueued_at')),
  partition_interval text not null,
  retention_interval text not null,
  premake int not null
);

create type pgmq.message_record as (
  msg_id bigint,
  read_ct integer,
  enqueued_at timestamptz,
  vt timestamptz,
  message jsonb,
  headers jsonb
);

create type pgmq.queue_record as (
  queue_name varchar,
  is_partitioned boolean,
  is_unlogged boolean,
  created_at timestamptz
);

create type pgmq.metrics_result as (
  queue_name text,
  queue_length bigint,
  newest_msg_age_sec int,
  oldest_msg_age_sec int,
  total_messages bigint,
  scrape_time timestamptz,
  queue_visible_length bigint
);

-- ---------------------------------------------------------------------------------------------
-- Names

create function pgmq.validate_queue_name(queue_name text) returns void
language plpgsql immutable as $$
begin
  if queue_name is null or length(queue_name) = 0 then
    raise exception 'queue name must not be empty';
  end if;
  if length(queue_name) > 47 then
    raise exception 'queue name is too long, maximum length is 47 characters';
  end if;
end
$$;

create function pgmq.format_table_name(queue_name text, prefix text) returns text
language plpgsql immutable as $$
begin
  if queue_name ~ '\$|;|--|''' then
    raise exception 'queue name contains invalid characters: $, ;, --, or \''';
  end if;
  return lower(prefix || '_' || queue_name);
end
$$;

create function pgmq.acquire_queue_lock(queue_name text) returns void
language sql as $$
  select pg_advisory_xact_lock(hashtext('pgmq.queue_' || queue_name));
$$;

-- The NOTIFY channel of a queue (pgbase addition, see the header).
create function pgmq.notify_channel(queue_name text) returns text
language sql immutable as $$
  select 'pgmq.' || pgmq.format_table_name(queue_name, 'q') || '.INSERT';
$$;

-- Per-queue NOTIFY settings; a queue without a row notifies on every send (the default).
create table if not exists pgmq.notify_insert_settings (
  queue_name text primary key,
  enabled boolean not null,
  throttle_interval_ms integer not null default 0,
  last_notified_at timestamptz not null default to_timestamp(0)
);
grant select on pgmq.notify_insert_settings to public;

create function pgmq.disable_notify_insert(queue_name text) returns void
language sql as $$
  insert into pgmq.notify_insert_settings (queue_name, enabled)
  values (disable_notify_insert.queue_name, false)
  on conflict on constraint notify_insert_settings_pkey do update set enabled = false;
$$;

create function pgmq.enable_notify_insert(queue_name text, throttle_interval_ms integer default 0)
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
create function pgmq._notify_insert(queue_name text, qtable text) returns void
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

-- ---------------------------------------------------------------------------------------------
-- Queue management

create function pgmq._create_tables(queue_name text, unlogged boolean) returns void
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

create function pgmq.create_non_partitioned(queue_name text) returns void
language sql as $$ select pgmq._create_tables(queue_name, false); $$;

create function pgmq."create"(queue_name text) returns void
language sql as $$ select pgmq._create_tables(queue_name, false); $$;

create function pgmq.create_unlogged(queue_name text) returns void
language sql as $$ select pgmq._create_tables(queue_name, true); $$;

-- Lower bound of the range partition holding `v` (an msg_id or an epoch) for a step.
create function pgmq._partition_floor(v numeric, step numeric) returns numeric
language sql immutable as $$ select floor(v / step) * step; $$;

-- Creates missing partitions from the one holding "now" up to `premake` ahead, and drops
-- partitions whose upper bound lies beyond the retention. Safe to call at any time.
create function pgmq._maintain_partitions(queue_name text) returns void
language plpgsql as $$
declare
  cfg pgmq.partition_config;
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
  tbl text;
  by_id boolean;
  step numeric;
  cur numeric;
  keep_from numeric;
  lo numeric;
  part record;
  bounds text[];
  upper_v numeric;
  i int;
begin
  select * into cfg from pgmq.partition_config c where c.queue_name = _maintain_partitions.queue_name;
  if not found then
    return;
  end if;
  by_id := cfg.partition_column = 'msg_id';
  foreach tbl in array array[qtable, atable] loop
    if by_id then
      step := cfg.partition_interval::numeric;
      execute format('select coalesce(max(msg_id), 0) from pgmq.%I', tbl) into cur;
      keep_from := cur - cfg.retention_interval::numeric;
    else
      step := extract(epoch from cfg.partition_interval::interval);
      cur := extract(epoch from now());
      keep_from := extract(epoch from now() - cfg.retention_interval::interval);
    end if;
    for i in 0 .. cfg.premake loop
      lo := pgmq._partition_floor(cur, step) + i * step;
      if to_regclass(format('pgmq.%I', tbl || '_p' || lo::bigint)) is null then
        begin
          if by_id then
            execute format('create table pgmq.%I partition of pgmq.%I for values from (%s) to (%s)',
              tbl || '_p' || lo::bigint, tbl, lo::bigint, (lo + step)::bigint);
          else
            execute format('create table pgmq.%I partition of pgmq.%I for values from (%L) to (%L)',
              tbl || '_p' || lo::bigint, tbl, to_timestamp(lo), to_timestamp(lo + step));
          end if;
        exception when others then
          -- rows of that range already sit in the default partition: leave them there.
          raise notice 'pgmq: partition % of % not created: %', lo::bigint, tbl, sqlerrm;
        end;
      end if;
    end loop;
    -- Retention: drop partitions entirely below keep_from.
    for part in
      select c.relname, pg_get_expr(c.relpartbound, c.oid) as bound
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = format('pgmq.%I', tbl)::regclass
    loop
      bounds := regexp_match(part.bound, 'TO \(''?([^'')]+)''?\)');
      if bounds is null then
        continue; -- the default partition
      end if;
      if by_id then
        upper_v := bounds[1]::numeric;
      else
        upper_v := extract(epoch from bounds[1]::timestamptz);
      end if;
      if upper_v <= keep_from then
        execute format('drop table pgmq.%I', part.relname);
      end if;
    end loop;
  end loop;
end
$$;

create function pgmq.create_partitioned(
  queue_name text,
  partition_interval text default '10000',
  retention_interval text default '100000',
  premake int default 4
) returns void
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
  by_id boolean := partition_interval ~ '^\s*[0-9]+\s*$';
  qcol text;
  acol text;
begin
  perform pgmq.validate_queue_name(queue_name);
  perform pgmq.acquire_queue_lock(queue_name);
  if by_id then
    if partition_interval::bigint <= 0 then
      raise exception 'partition_interval must be positive';
    end if;
    if retention_interval !~ '^\s*[0-9]+\s*$' then
      raise exception 'retention_interval must be an integer when partition_interval is one';
    end if;
    qcol := 'msg_id';
    acol := 'msg_id';
  else
    begin
      if partition_interval::interval <= interval '0' or retention_interval::interval <= interval '0' then
        raise exception 'intervals must be positive';
      end if;
    exception when invalid_datetime_format or datetime_field_overflow or invalid_parameter_value or syntax_error then
      raise exception 'invalid partition_interval or retention_interval: %, %', partition_interval, retention_interval;
    end;
    if extract(epoch from partition_interval::interval) < 60 then
      raise exception 'partition_interval must be at least one minute';
    end if;
    qcol := 'enqueued_at';
    acol := 'archived_at';
  end if;
  if premake is null or premake < 0 then
    raise exception 'premake must be zero or more';
  end if;
  if exists (select from pgmq.meta m where m.queue_name = create_partitioned.queue_name) then
    return;
  end if;
  execute format($q$
    create table pgmq.%I (
      msg_id bigint generated always as identity,
      read_ct int not null default 0,
      enqueued_at timestamptz not null default now(),
      vt timestamptz not null,
      message jsonb,
      headers jsonb
      %s
    ) partition by range (%I)$q$,
    qtable, case when by_id then ', primary key (msg_id)' else '' end, qcol);
  execute format($q$
    create table pgmq.%I (
      msg_id bigint not null,
      read_ct int not null default 0,
      enqueued_at timestamptz not null default now(),
      archived_at timestamptz not null default now(),
      vt timestamptz not null,
      message jsonb,
      headers jsonb
      %s
    ) partition by range (%I)$q$,
    atable, case when by_id then ', primary key (msg_id)' else '' end, acol);
  if not by_id then
    execute format('create index %I on pgmq.%I (msg_id)', qtable || '_msg_id_idx', qtable);
    execute format('create index %I on pgmq.%I (msg_id)', atable || '_msg_id_idx', atable);
  end if;
  execute format('create index %I on pgmq.%I (vt asc)', qtable || '_vt_idx', qtable);
  execute format('create index %I on pgmq.%I (archived_at)', 'archived_at_idx_' || atable, atable);
  execute format('create table pgmq.%I partition of pgmq.%I default', qtable || '_default', qtable);
  execute format('create table pgmq.%I partition of pgmq.%I default', atable || '_default', atable);
  insert into pgmq.meta (queue_name, is_partitioned, is_unlogged) values (queue_name, true, false);
  insert into pgmq.partition_config values
    (queue_name, qcol, trim(partition_interval), trim(retention_interval), premake);
  perform pgmq._maintain_partitions(queue_name);
end
$$;

-- Creates upcoming partitions and drops expired ones for every partitioned queue.
create function pgmq.run_maintenance() returns void
language plpgsql as $$
declare
  q text;
begin
  for q in select queue_name from pgmq.partition_config loop
    perform pgmq._maintain_partitions(q);
  end loop;
end
$$;

create function pgmq.drop_queue(queue_name text) returns boolean
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

create function pgmq.drop_queue(queue_name text, partitioned boolean) returns boolean
language plpgsql as $$
begin
  raise warning 'drop_queue(queue_name, partitioned) is deprecated and will be removed in a future version. Use drop_queue(queue_name) instead.';
  return pgmq.drop_queue(queue_name);
end
$$;

create function pgmq.purge_queue(queue_name text) returns bigint
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
  n bigint;
begin
  execute format('select count(*) from pgmq.%I', qtable) into n;
  execute format('truncate pgmq.%I', qtable);
  return n;
end
$$;

create function pgmq.detach_archive(queue_name text) returns void
language plpgsql as $$
begin
  raise warning 'detach_archive(queue_name) is deprecated and is a no-op. It will be removed in PGMQ v2.0. Archive tables are no longer member of PGMQ extension.';
end
$$;

create function pgmq.list_queues() returns setof pgmq.queue_record
language sql stable as $$
  select queue_name, is_partitioned, is_unlogged, created_at from pgmq.meta order by created_at, queue_name;
$$;

-- ---------------------------------------------------------------------------------------------
-- Produce

-- One message: the path of every `send` (no arrays, no wrapper layers).
create function pgmq._send_one(queue_name text, msg jsonb, headers jsonb, vt timestamptz)
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

create function pgmq._send(queue_name text, msgs jsonb[], headers jsonb[], vt timestamptz)
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

create function pgmq._delay(delay integer) returns timestamptz
language sql volatile as $$
  select clock_timestamp() + make_interval(secs => coalesce(delay, 0));
$$;

create function pgmq.send(queue_name text, msg jsonb) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, null, null); end $$;

create function pgmq.send(queue_name text, msg jsonb, delay integer) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, null, pgmq._delay(delay)); end $$;

create function pgmq.send(queue_name text, msg jsonb, delay timestamptz) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, null, delay); end $$;

create function pgmq.send(queue_name text, msg jsonb, headers jsonb) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, headers, null); end $$;

create function pgmq.send(queue_name text, msg jsonb, headers jsonb, delay integer) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, headers, pgmq._delay(delay)); end $$;

create function pgmq.send(queue_name text, msg jsonb, headers jsonb, delay timestamptz) returns setof bigint
language plpgsql as $$ begin return query select * from pgmq._send_one(queue_name, msg, headers, delay); end $$;

create function pgmq.send_batch(queue_name text, msgs jsonb[]) returns setof bigint
language sql as $$ select * from pgmq._send(queue_name, msgs, null, pgmq._delay(0)); $$;

create function pgmq.send_batch(queue_name text, msgs jsonb[], delay integer) returns setof bigint
language sql as $$ select * from pgmq._send(queue_name, msgs, null, pgmq._delay(delay)); $$;

create function pgmq.send_batch(queue_name text, msgs jsonb[], delay timestamptz) returns setof bigint
language sql as $$ select * from pgmq._send(queue_name, msgs, null, delay); $$;

create function pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[]) returns setof bigint
language sql as $$ select * from pgmq._send(queue_name, msgs, headers, pgmq._delay(0)); $$;

create function pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay integer) returns setof bigint
language sql as $$ select * from pgmq._send(queue_name, msgs, headers, pgmq._delay(delay)); $$;

create function pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay timestamptz) returns setof bigint
language sql as $$ select * from pgmq._send(queue_name, msgs, headers, delay); $$;

-- ---------------------------------------------------------------------------------------------
-- Consume

create function pgmq.read(queue_name text, vt integer, qty integer, conditional jsonb default '{}')
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

create function pgmq.read_with_poll(
  queue_name text,
  vt integer,
  qty integer,
  max_poll_seconds integer default 5,
  poll_interval_ms integer default 100,
  conditional jsonb default '{}'
) returns setof pgmq.message_record
language plpgsql as $$
declare
  stop_at timestamptz := clock_timestamp() + make_interval(secs => max_poll_seconds);
begin
  loop
    return query select * from pgmq.read(queue_name, vt, qty, conditional);
    if found or clock_timestamp() >= stop_at then
      return;
    end if;
    perform pg_sleep(greatest(poll_interval_ms, 1) / 1000.0);
  end loop;
end
$$;

create function pgmq.pop(queue_name text, qty integer default 1) returns setof pgmq.message_record
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
begin
  return query execute format($q$
    with cte as (
      select msg_id from pgmq.%I
      where vt <= clock_timestamp()
      order by msg_id
      limit $1
      for update skip locked
    ), del as (
      delete from pgmq.%I m using cte where m.msg_id = cte.msg_id
      returning m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message, m.headers
    )
    select * from del order by msg_id$q$, qtable, qtable)
    using qty;
end
$$;

create function pgmq.delete(queue_name text, msg_id bigint) returns boolean
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

create function pgmq.delete(queue_name text, msg_ids bigint[]) returns setof bigint
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
begin
  return query execute format(
    'with del as (delete from pgmq.%I where msg_id = any($1) returning msg_id) select msg_id from del order by msg_id',
    qtable) using msg_ids;
end
$$;

create function pgmq.archive(queue_name text, msg_id bigint) returns boolean
language plpgsql as $$
begin
  return exists (select from pgmq.archive(queue_name, array[msg_id]));
end
$$;

create function pgmq.archive(queue_name text, msg_ids bigint[]) returns setof bigint
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
begin
  return query execute format($q$
    with del as (
      delete from pgmq.%I where msg_id = any($1)
      returning msg_id, read_ct, enqueued_at, vt, message, headers
    ), ins as (
      insert into pgmq.%I (msg_id, read_ct, enqueued_at, vt, message, headers)
      select msg_id, read_ct, enqueued_at, vt, message, headers from del
      returning msg_id
    )
    select msg_id from ins order by msg_id$q$, qtable, atable)
    using msg_ids;
end
$$;

create function pgmq._set_vt(queue_name text, msg_ids bigint[], vt timestamptz)
returns setof pgmq.message_record
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
begin
  return query execute format($q$
    with upd as (
      update pgmq.%I set vt = $2 where msg_id = any($1)
      returning msg_id, read_ct, enqueued_at, vt, message, headers
    )
    select * from upd order by msg_id$q$, qtable)
    using msg_ids, vt;
end
$$;

create function pgmq.set_vt(queue_name text, msg_id bigint, vt integer) returns setof pgmq.message_record
language sql as $$ select * from pgmq._set_vt(queue_name, array[msg_id], pgmq._delay(vt)); $$;

create function pgmq.set_vt(queue_name text, msg_id bigint, vt timestamptz) returns setof pgmq.message_record
language sql as $$ select * from pgmq._set_vt(queue_name, array[msg_id], vt); $$;

create function pgmq.set_vt(queue_name text, msg_ids bigint[], vt integer) returns setof pgmq.message_record
language sql as $$ select * from pgmq._set_vt(queue_name, msg_ids, pgmq._delay(vt)); $$;

create function pgmq.set_vt(queue_name text, msg_ids bigint[], vt timestamptz) returns setof pgmq.message_record
language sql as $$ select * from pgmq._set_vt(queue_name, msg_ids, vt); $$;

-- ---------------------------------------------------------------------------------------------
-- Metrics

create function pgmq.metrics(queue_name text) returns pgmq.metrics_result
language plpgsql as $$
declare
  qtable text := pgmq.format_table_name(queue_name, 'q');
  seq text;
  result pgmq.metrics_result;
  total bigint;
begin
  execute format($q$
    select $1::text,
           count(*)::bigint,
           extract(epoch from now() - max(enqueued_at))::int,
           extract(epoch from now() - min(enqueued_at))::int,
           null::bigint,
           now(),
           count(*) filter (where vt <= now())::bigint
    from pgmq.%I$q$, qtable)
    into result using queue_name;
  seq := pg_get_serial_sequence(format('pgmq.%I', qtable), 'msg_id');
  execute format('select case when is_called then last_value else 0 end from %s', seq) into total;
  result.total_messages := total;
  return result;
end
$$;

create function pgmq.metrics_all() returns setof pgmq.metrics_result
language plpgsql as $$
declare
  q text;
begin
  for q in select queue_name from pgmq.meta order by queue_name loop
    return next pgmq.metrics(q);
  end loop;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Privileges: monitoring may look; service_role may use and manage queues. Functions run as the
-- caller (as upstream), so a role needs rights on the queue tables it touches.

grant usage on schema pgmq to pg_monitor;
grant select on all tables in schema pgmq to pg_monitor;
grant select on all sequences in schema pgmq to pg_monitor;
alter default privileges in schema pgmq grant select on tables to pg_monitor;
alter default privileges in schema pgmq grant select on sequences to pg_monitor;

grant usage, create on schema pgmq to service_role;
grant all on all tables in schema pgmq to service_role;
grant all on all sequences in schema pgmq to service_role;
alter default privileges in schema pgmq grant all on tables to service_role;
alter default privileges in schema pgmq grant all on sequences to service_role;

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

create function pgmq_public.send(queue_name text, message jsonb, sleep_seconds integer default 0)
returns setof bigint
language sql set search_path = '' as $$
  select * from pgmq.send(queue_name := queue_name, msg := message, delay := sleep_seconds);
$$;

create function pgmq_public.send_batch(queue_name text, messages jsonb[], sleep_seconds integer default 0)
returns setof bigint
language sql set search_path = '' as $$
  select * from pgmq.send_batch(queue_name := queue_name, msgs := messages, delay := sleep_seconds);
$$;

create function pgmq_public.read(queue_name text, sleep_seconds integer, n integer)
returns setof pgmq.message_record
language sql set search_path = '' as $$
  select * from pgmq.read(queue_name := queue_name, vt := sleep_seconds, qty := n);
$$;

create function pgmq_public.pop(queue_name text)
returns setof pgmq.message_record
language sql set search_path = '' as $$
  select * from pgmq.pop(queue_name := queue_name);
$$;

create function pgmq_public.archive(queue_name text, message_id bigint)
returns boolean
language sql set search_path = '' as $$
  select pgmq.archive(queue_name := queue_name, msg_id := message_id);
$$;

create function pgmq_public.delete(queue_name text, message_id bigint)
returns boolean
language sql set search_path = '' as $$
  select pgmq.delete(queue_name := queue_name, msg_id := message_id);
$$;
