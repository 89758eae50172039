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
  -- service_role is created with BYPASSRLS when the login may give it, which is decided by
  -- trying (42501 when it may not): on PG 14-15 only a superuser may, on PG 16+ also a role that
  -- has BYPASSRLS and CREATEROLE. Otherwise it is made without, and `pgbase serve` / `pgbase
  -- doctor` say so until an administrator runs the statement in the warning.
  if not exists (select from pg_roles where rolname = 'service_role') then
    begin
      create role service_role nologin noinherit bypassrls;
    exception when insufficient_privilege then
      create role service_role nologin noinherit;
      raise warning 'pgbase: service_role was created without BYPASSRLS because this login may not give it (on PG 14-15 only a superuser may, on PG 16+ a role that has BYPASSRLS and CREATEROLE), so the service key sees only what row-level security allows; an administrator must run: ALTER ROLE service_role BYPASSRLS;';
    end;
  elsif not exists (select from pg_roles where rolname = 'service_role' and rolbypassrls) then
    begin
      alter role service_role bypassrls;
    exception when insufficient_privilege then
      raise warning 'pgbase: service_role has no BYPASSRLS and this login may not give it (on PG 14-15 only a superuser may, on PG 16+ a role that has BYPASSRLS, CREATEROLE and ADMIN OPTION on service_role), so the service key sees only what row-level security allows; an administrator must run: ALTER ROLE service_role BYPASSRLS;';
    end;
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

-- Creating an event trigger needs a superuser in plain PostgreSQL, but managed services' admin
-- roles may (RDS, Cloud SQL, Neon, Supabase), so it is decided by trying. A trigger that already
-- runs pgbase.on_ddl() is kept (it may belong to another role, which this login could not drop).
-- Without one, pgbase still reloads after its own migrations (migrate sends the NOTIFY itself),
-- on `NOTIFY pgrst` and when serve's periodic catalog fingerprint check sees a change.
do $trigger$
begin
  if not exists (select from pg_event_trigger
                 where evtname = 'pgbase_ddl_end' and evtevent = 'ddl_command_end'
                   and evtfoid = 'pgbase.on_ddl()'::regprocedure) then
    begin
      drop event trigger if exists pgbase_ddl_end;
      create event trigger pgbase_ddl_end on ddl_command_end execute function pgbase.on_ddl();
    exception when insufficient_privilege then
      raise notice 'pgbase: this login may not create event triggers, so no DDL event trigger; run NOTIFY pgrst, ''reload schema'' after DDL outside pgbase migrate';
    end;
  end if;
end
$trigger$;
