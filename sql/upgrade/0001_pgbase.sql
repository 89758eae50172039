-- pgbase system schema upgrade of 0001_pgbase.sql: a database whose 0001 was applied by an
-- earlier pgbase, which gave service_role BYPASSRLS and created the DDL event trigger only when
-- its login was a superuser, gets both now wherever the login may give them (decided by trying,
-- as the current 0001 does): a superuser, on PG 16+ a role with BYPASSRLS and CREATEROLE, a
-- managed service's admin role that may create event triggers.
--
-- Run by `pgbase migrate` (and serve/dev start-up) under the migration lock, in one transaction,
-- only when the probe in crates/pgbase-migrate/src/system.rs finds the event trigger missing or
-- service_role without BYPASSRLS. Every statement is idempotent, and a missing privilege only
-- gives the same WARNING / NOTICE as 0001: it never fails the migration.

do $service_role$
begin
  if exists (select from pg_roles where rolname = 'service_role' and not rolbypassrls) then
    begin
      alter role service_role bypassrls;
    exception when insufficient_privilege then
      raise warning 'pgbase: service_role has no BYPASSRLS and this login may not give it (on PG 14-15 only a superuser may, on PG 16+ a role that has BYPASSRLS, CREATEROLE and ADMIN OPTION on service_role), so the service key sees only what row-level security allows; an administrator must run: ALTER ROLE service_role BYPASSRLS;';
    end;
  end if;
end
$service_role$;

-- pgbase.on_ddl() is unchanged since the first release, so it is not replaced (it may belong to
-- another role than this login).
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
