-- pgbase system schema 0001: API roles, the `pgbase` schema (schema version, migration
-- history) and the DDL event trigger that tells every pgbase process to reload its schema cache.
-- Applied by `pgbase migrate` / `pgbase dev` inside one transaction; safe to re-run.

-- Roles are cluster-wide, so another database of the same cluster may already hold them.
do $roles$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  -- BYPASSRLS needs a superuser (PG 14-17); a managed database's owner (CREATEROLE) makes the
  -- role without it, and `pgbase serve` / `pgbase doctor` say so until an administrator runs
  -- the statement in the warning.
  if not exists (select from pg_roles where rolname = 'service_role') then
    if exists (select from pg_roles where rolname = current_user and rolsuper) then
      create role service_role nologin noinherit bypassrls;
    else
      create role service_role nologin noinherit;
      raise warning 'pgbase: service_role was created without BYPASSRLS (only a superuser may give it), so the service key sees only what row-level security allows; an administrator must run: ALTER ROLE service_role BYPASSRLS;';
    end if;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$roles$;

grant anon, authenticated, service_role to authenticator;
-- The role that runs migrations (the owner of the user's objects) must be able to switch into
-- the API roles too, so that `pgbase dev` can serve as the superuser and managed databases as
-- their admin role.
do $grant_current$
begin
  if not exists (select from pg_roles where rolname = current_user and rolsuper) then
    execute format('grant anon, authenticated, service_role to %I', current_user);
  end if;
end
$grant_current$;

grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;

create schema if not exists pgbase;
comment on schema pgbase is 'pgbase internals: schema version and migration history';

create table if not exists pgbase.schema_version (
  singleton boolean primary key default true check (singleton),
  version bigint not null default 0,
  changed_at timestamptz not null default now()
);
insert into pgbase.schema_version (singleton, version) values (true, 0) on conflict do nothing;

create table if not exists pgbase.migrations (
  version text primary key,
  name text not null,
  checksum text not null,
  applied_at timestamptz not null default now(),
  duration_ms double precision not null
);
comment on table pgbase.migrations is 'user migrations applied by pgbase migrate (migrations/*.sql)';

-- Bumps the schema version and asks every pgbase process (and PostgREST, same channel) to reload.
create or replace function pgbase.on_ddl() returns event_trigger
language plpgsql security definer set search_path = pg_catalog as $fn$
begin
  update pgbase.schema_version set version = version + 1, changed_at = now();
  perform pg_notify('pgrst', 'reload schema');
end
$fn$;

-- Event triggers need a superuser. On a managed database without one, pgbase still reloads
-- after its own migrations (migrate sends the NOTIFY itself) and on `NOTIFY pgrst`.
do $trigger$
begin
  if exists (select from pg_roles where rolname = current_user and rolsuper) then
    drop event trigger if exists pgbase_ddl_end;
    create event trigger pgbase_ddl_end on ddl_command_end execute function pgbase.on_ddl();
  else
    raise notice 'pgbase: not a superuser, so no DDL event trigger; run NOTIFY pgrst, ''reload schema'' after DDL outside pgbase migrate';
  end if;
end
$trigger$;
