-- pgbase system schema 0006_net: asynchronous HTTP from SQL with the API of pg_net 0.14, in plain
-- SQL. `net.http_get/post/delete` only insert a row into `net.http_request_queue` and return its
-- id, so a request exists only once the caller's transaction commits: a rollback sends nothing.
-- An insert trigger NOTIFYs the channel `pgbase_net` (delivered at commit); the net worker of
-- pgbase (crate pgbase-jobs) LISTENs on it, claims rows FOR UPDATE SKIP LOCKED with a lease
-- (`claimed_until`), sends them concurrently and writes the outcome into `net._http_response`,
-- deleting the request in the same transaction. A request claimed by a process that dies is
-- claimed again by another once the claimer's session (`claimed_by`, the backend pid of its
-- LISTEN session) is gone from pg_stat_activity, or at the latest once its lease expires, so
-- delivery is at-least-once: a request can be sent twice, never lost while pgbase runs. Responses expire after a TTL (6 hours by default,
-- configured in pgbase). Like upstream, both tables are UNLOGGED (emptied by a crash).

create schema if not exists net;
comment on schema net is 'pg_net-compatible asynchronous HTTP (pgbase, no extension)';

create domain net.http_method as text
  check (lower(value) in ('get', 'post', 'delete'));

create unlogged table net.http_request_queue (
  id bigserial,
  method net.http_method not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds int not null,
  -- pgbase: set while a worker holds the request; expired leases are claimed again.
  claimed_until timestamptz,
  -- pgbase: backend pid of the claiming worker's LISTEN session; when that session is gone
  -- (the process died), the request is claimed again at once, without waiting for the lease.
  claimed_by integer
);
create index http_request_queue_id_idx on net.http_request_queue (id);

create unlogged table net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
create index _http_response_created_idx on net._http_response (created);
create index _http_response_id_idx on net._http_response (id);

create type net.request_status as enum ('PENDING', 'SUCCESS', 'ERROR');
create type net.http_response as (
  status_code integer,
  headers jsonb,
  body text
);
create type net.http_response_result as (
  status net.request_status,
  message text,
  response net.http_response
);

-- Wakes the worker at commit (one notification per transaction, however many requests).
create function net._notify_worker() returns trigger
language plpgsql as $$
begin
  perform pg_notify('pgbase_net', '');
  return null;
end
$$;
create trigger http_request_queue_notify after insert on net.http_request_queue
  for each statement execute function net._notify_worker();

-- Percent-encodes everything but the unreserved characters of RFC 3986.
create function net._urlencode_string(string varchar) returns text
language plpgsql immutable strict as $$
declare
  bytes bytea := convert_to(string, 'UTF8');
  out text := '';
  b int;
  i int;
begin
  for i in 0 .. length(bytes) - 1 loop
    b := get_byte(bytes, i);
    if (b between 48 and 57) or (b between 65 and 90) or (b between 97 and 122)
       or b in (45, 46, 95, 126) then
      out := out || chr(b);
    else
      out := out || '%' || upper(lpad(to_hex(b), 2, '0'));
    end if;
  end loop;
  return out;
end
$$;

create function net._encode_url_with_params_array(url text, params_array text[]) returns text
language sql immutable as $$
  select case
    when params_array is null or cardinality(params_array) = 0 then url
    else url || case when url like '%?%' then '&' else '?' end || array_to_string(params_array, '&')
  end;
$$;

create function net._params_array(params jsonb) returns text[]
language plpgsql immutable as $$
begin
  if params is null or params = 'null'::jsonb then
    return '{}';
  end if;
  if jsonb_typeof(params) <> 'object' then
    raise exception 'params must be a JSON object';
  end if;
  return array(
    select net._urlencode_string(key) || '=' || net._urlencode_string(value)
    from jsonb_each_text(params)
  );
end
$$;

create function net._check_headers(headers jsonb) returns jsonb
language plpgsql immutable as $$
begin
  if headers is not null and headers <> 'null'::jsonb and jsonb_typeof(headers) <> 'object' then
    raise exception 'headers must be a JSON object';
  end if;
  return nullif(headers, 'null'::jsonb);
end
$$;

create function net._enqueue(method text, url text, headers jsonb, body bytea, timeout_milliseconds int)
returns bigint
language plpgsql as $$
declare
  request_id bigint;
begin
  if url is null then
    raise exception 'url must not be null';
  end if;
  if timeout_milliseconds is null or timeout_milliseconds <= 0 then
    raise exception 'timeout_milliseconds must be a positive number';
  end if;
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (method, url, headers, body, timeout_milliseconds)
  returning id into request_id;
  return request_id;
end
$$;

create function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000
) returns bigint
language sql volatile security definer set search_path = pg_catalog, pg_temp as $$
  select net._enqueue('GET', net._encode_url_with_params_array(url, net._params_array(params)),
                      net._check_headers(headers), null, timeout_milliseconds);
$$;

create function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds int default 5000
) returns bigint
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  h jsonb := coalesce(net._check_headers(headers), '{}'::jsonb);
  content_type text;
begin
  select value into content_type from jsonb_each_text(h) where lower(key) = 'content-type' limit 1;
  if content_type is null then
    h := h || '{"Content-Type": "application/json"}'::jsonb;
  elsif content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;
  return net._enqueue('POST', net._encode_url_with_params_array(url, net._params_array(params)),
                      h, convert_to(coalesce(body, 'null'::jsonb)::text, 'UTF8'), timeout_milliseconds);
end
$$;

create function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000,
  body jsonb default null
) returns bigint
language sql volatile security definer set search_path = pg_catalog, pg_temp as $$
  select net._enqueue('DELETE', net._encode_url_with_params_array(url, net._params_array(params)),
                      net._check_headers(headers),
                      case when body is null then null else convert_to(body::text, 'UTF8') end,
                      timeout_milliseconds);
$$;

-- Deprecated upstream but still called: the state of a request as one composite value.
create function net.http_collect_response(request_id bigint, async boolean default true)
returns net.http_response_result
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  r net._http_response;
begin
  loop
    select * into r from net._http_response where id = request_id order by created desc limit 1;
    exit when found or async;
    if not exists (select from net.http_request_queue where id = request_id) then
      exit;
    end if;
    perform pg_sleep(0.05);
  end loop;
  if r.id is null then
    return row('PENDING', 'request is pending processing', null)::net.http_response_result;
  elsif r.error_msg is not null or r.status_code is null then
    return row('ERROR', coalesce(r.error_msg, 'request failed'), null)::net.http_response_result;
  end if;
  return row('SUCCESS', 'ok', row(r.status_code, r.headers, r.content)::net.http_response)::net.http_response_result;
end
$$;

-- Admin functions of pg_net, for scripts that call them.
create function net.wake() returns void
language sql security definer set search_path = pg_catalog, pg_temp as $$
  select pg_notify('pgbase_net', '');
$$;

create function net.worker_restart() returns boolean
language sql security definer set search_path = pg_catalog, pg_temp as $$
  select pg_notify('pgbase_net', '');
  select true;
$$;

create function net.check_worker_is_up() returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not exists (select from pg_stat_activity where application_name = 'pgbase-net-worker'
                 and datname = current_database()) then
    raise exception 'the pg_net background worker is not up'
      using hint = 'pgbase runs the net worker: start pgbase serve or pgbase dev against this database';
  end if;
end
$$;

create function net.wait_until_running() returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  for i in 1 .. 100 loop
    perform pg_stat_clear_snapshot();
    if exists (select from pg_stat_activity where application_name = 'pgbase-net-worker'
               and datname = current_database()) then
      return;
    end if;
    perform pg_sleep(0.1);
  end loop;
  perform net.check_worker_is_up();
end
$$;

-- As Supabase ships pg_net: the API roles may call the request functions (SECURITY DEFINER,
-- the tables stay private); service_role may read responses.
revoke all on all functions in schema net from public;
grant usage on schema net to anon, authenticated, service_role;
grant execute on function
  net.http_get(text, jsonb, jsonb, int),
  net.http_post(text, jsonb, jsonb, jsonb, int),
  net.http_delete(text, jsonb, jsonb, int, jsonb),
  net.http_collect_response(bigint, boolean)
  to anon, authenticated, service_role;
grant select on net._http_response to service_role;
