-- security_definer_function_executable: a SECURITY DEFINER function in an exposed schema that
-- `anon` or `authenticated` may execute. It is callable as an RPC (`/rest/v1/rpc/<name>`) and
-- runs with its owner's privileges, bypassing the caller's grants and row-level security.
-- $1 text[]: the exposed schemas; $2 text[]: system schemas (unused here).
select
  format('Function %I.%I(%s) is SECURITY DEFINER (runs as %I) and %s can call it through the API.',
         n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), pg_get_userbyid(p.proowner),
         array_to_string(api.roles, ', ')) as detail,
  format('Make it `security invoker` if it need not bypass RLS, move it to a schema the API does not expose, or run `revoke execute on function %I.%I(%s) from public, anon, authenticated;`.',
         n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', p.proname, 'type', 'function',
                     'arguments', pg_get_function_identity_arguments(p.oid), 'roles', to_jsonb(api.roles)) as metadata,
  format('security_definer_function_executable_%s_%s_%s', n.nspname, p.proname, md5(pg_get_function_identity_arguments(p.oid))) as cache_key
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
cross join lateral (
  select array_agg(r.rolname::text order by r.rolname) as roles
  from pg_roles r
  where r.rolname in ('anon', 'authenticated')
    and has_schema_privilege(r.oid, n.oid, 'USAGE')
    and has_function_privilege(r.oid, p.oid, 'EXECUTE')
) api
where p.prosecdef
  and n.nspname = any($1)
  and api.roles is not null
  and not exists (select from pg_depend d
                  where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
