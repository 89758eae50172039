-- security_definer_view: a view in an exposed schema that the API roles can select from and that
-- does not run as its caller (no `security_invoker`), so it reads its tables with its owner's
-- privileges and bypasses the row-level security of the caller.
-- $1 text[]: the exposed schemas; $2 text[]: system schemas (unused here).
select
  format('View %I.%I runs with the privileges of its owner %I and is selectable through the API by %s, so the caller''s row-level security does not apply to the tables it reads.',
         n.nspname, c.relname, pg_get_userbyid(c.relowner), array_to_string(api.roles, ', ')) as detail,
  format('Run `alter view %I.%I set (security_invoker = true);` (PostgreSQL 15+), or revoke select on it from the API roles.',
         n.nspname, c.relname) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'view', 'roles', to_jsonb(api.roles)) as metadata,
  format('security_definer_view_%s_%s', n.nspname, c.relname) as cache_key
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
cross join lateral (
  select array_agg(r.rolname::text order by r.rolname) as roles
  from pg_roles r
  where r.rolname in ('anon', 'authenticated')
    and has_schema_privilege(r.oid, n.oid, 'USAGE')
    and has_any_column_privilege(r.oid, c.oid, 'SELECT')
) api
where c.relkind = 'v'
  and n.nspname = any($1)
  and api.roles is not null
  and not coalesce((select o.option_value::boolean
                    from pg_options_to_table(c.reloptions) as o
                    where o.option_name = 'security_invoker'), false)
  and not exists (select from pg_depend d
                  where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
