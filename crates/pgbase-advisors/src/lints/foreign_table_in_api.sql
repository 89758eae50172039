-- foreign_table_in_api: a foreign table in an exposed schema that anon or authenticated can
-- reach. Foreign tables have no row-level security, so the API serves every remote row to
-- those roles.
-- $1 text[]: the exposed schemas; $2 text[]: system schemas (unused here).
select
  format('Foreign table %I.%I is reachable through the API by %s; foreign tables have no row-level security.',
         n.nspname, c.relname, array_to_string(api.roles, ', ')) as detail,
  format('Run `revoke all on %I.%I from anon, authenticated;` or move it to a schema the API does not expose.',
         n.nspname, c.relname) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'foreign table', 'roles', to_jsonb(api.roles)) as metadata,
  format('foreign_table_in_api_%s_%s', n.nspname, c.relname) as cache_key
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
cross join lateral (
  select array_agg(r.rolname::text order by r.rolname) as roles
  from pg_roles r
  where r.rolname in ('anon', 'authenticated')
    and has_schema_privilege(r.oid, n.oid, 'USAGE')
    and (has_any_column_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE')
         or has_table_privilege(r.oid, c.oid, 'DELETE'))
) api
where c.relkind = 'f'
  and n.nspname = any($1)
  and api.roles is not null
  and not exists (select from pg_depend d
                  where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
