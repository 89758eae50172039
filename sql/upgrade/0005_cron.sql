-- pgbase system schema upgrade of 0005_cron.sql: brings the scheduler schema of a database that
-- applied an earlier text of 0005 (the first release onwards) to the current text, in place.
--
-- Run by `pgbase migrate` (and serve/dev start-up) under the migration lock, in one transaction,
-- only when the probe in crates/pgbase-migrate/src/system.rs finds a piece of the current 0005
-- missing. Jobs and their run history are not touched. 0007_safety.sql then applies on top.

-- The scheduler runs the command of a job owned by a non-superuser through a SECURITY DEFINER
-- function owned by that user, `cron._run_as_<role oid>(command)`: inside it the command runs
-- as the user and cannot `SET ROLE`, `RESET ROLE` or `SET SESSION AUTHORIZATION` back to
-- pgbase's own login (Postgres forbids those in security-definer functions). This returns that
-- function, creating it on first use; only pgbase's login may call it (or the runners).
create or replace function cron._runner_for(username text) returns regprocedure
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
