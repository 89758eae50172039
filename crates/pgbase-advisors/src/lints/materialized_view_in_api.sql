-- materialized_view_in_api: a materialized view in an exposed schema that anon or authenticated
-- can select from. Materialized views have no row-level security, so every row of it is
-- readable through the API by those roles.
-- $1 text[]: the exposed schemas; $2 text[]: system schemas (unused here).
select
  format('Materialized view %I.%I is selectable through the API by %s; materialized views have no row-level security.',
         n.nspname, c.relname, array_to_string(api.roles, ', ')) as detail,
  format('Run `revoke select on %I.%I from anon, authenticated;` or move it to a schema the API does not expose (serve it through a security_invoker view or function that filters rows).',
         n.nspname, c.relname) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'materialized view', 'roles', to_jsonb(api.roles)) as metadata,
  format('materialized_view_in_api_%s_%s', n.nspname, c.relname) as cache_key
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
cross join lateral (
  select array_agg(r.rolname::text order by r.rolname) as roles
  from pg_roles r
  where r.rolname in ('anon', 'authenticated')
    and has_schema_privilege(r.oid, n.oid, 'USAGE')
    and has_any_column_privilege(r.oid, c.oid, 'SELECT')
) api
where c.relkind = 'm'
  and n.nspname = any($1)
  and api.roles is not null
  and not exists (select from pg_depend d
                  where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
