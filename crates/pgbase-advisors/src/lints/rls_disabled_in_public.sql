-- rls_disabled_in_public: a table in an exposed schema that `anon` or `authenticated` holds a
-- privilege on while row-level security is off. Anyone with the anon key (or any signed-in user)
-- reads, and per the grants writes, every row through the API. Partitions are skipped: the API
-- serves their parent, whose row-level security applies to them.
-- $1 text[]: the exposed schemas; $2 text[]: system schemas (unused here).
select
  format('Table %I.%I is reachable through the API by %s, but row-level security is disabled on it.',
         n.nspname, c.relname, array_to_string(api.roles, ', ')) as detail,
  format('Run `alter table %I.%I enable row level security;` and add policies for the API roles, or revoke their privileges on it.',
         n.nspname, c.relname) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table', 'roles', to_jsonb(api.roles)) as metadata,
  format('rls_disabled_in_public_%s_%s', n.nspname, c.relname) as cache_key
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
cross join lateral (
  select array_agg(r.rolname::text order by r.rolname) as roles
  from pg_roles r
  where r.rolname in ('anon', 'authenticated')
    and has_schema_privilege(r.oid, n.oid, 'USAGE')
    and (has_any_column_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE')
         or has_table_privilege(r.oid, c.oid, 'DELETE, TRUNCATE'))
) api
where c.relkind in ('r', 'p')
  and n.nspname = any($1)
  and not c.relrowsecurity
  and not c.relispartition
  and api.roles is not null
  and not exists (select from pg_depend d
                  where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
