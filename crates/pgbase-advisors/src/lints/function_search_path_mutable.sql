-- function_search_path_mutable: a function or procedure without its own `search_path` setting
-- resolves unqualified names through the caller's search_path, so a caller who can create
-- objects earlier on that path can make it run their code (worst for SECURITY DEFINER).
-- $1 text[]: the exposed schemas (unused); $2 text[]: system schemas, which are skipped.
select
  format('Function %I.%I(%s) does not set search_path.',
         n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as detail,
  format('Run `alter %s %I.%I(%s) set search_path = '''';` and schema-qualify the names it uses (or pin it, e.g. `set search_path = pg_catalog, public`).',
         case p.prokind when 'p' then 'procedure' else 'function' end,
         n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', p.proname, 'type', 'function',
                     'arguments', pg_get_function_identity_arguments(p.oid), 'security_definer', p.prosecdef) as metadata,
  format('function_search_path_mutable_%s_%s_%s', n.nspname, p.proname, md5(pg_get_function_identity_arguments(p.oid))) as cache_key
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
where p.prokind in ('f', 'p')
  and n.nspname <> all($2) and n.nspname !~ '^pg_'
  and not exists (select from unnest(coalesce(p.proconfig, '{}')) as cfg where cfg like 'search\_path=%')
  and not exists (select from pg_depend d
                  where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
