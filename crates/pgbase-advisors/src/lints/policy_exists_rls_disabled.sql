-- policy_exists_rls_disabled: a table has row-level-security policies, but RLS is not enabled on
-- it, so the policies are ignored and every role with a grant sees every row.
-- $1 text[]: the exposed schemas (unused); $2 text[]: system schemas, which are skipped.
select
  format('Table %I.%I has %s polic%s (%s), but row-level security is disabled, so they have no effect.',
         n.nspname, c.relname, p.n, case when p.n = 1 then 'y' else 'ies' end,
         array_to_string(p.names, ', ')) as detail,
  format('Run `alter table %I.%I enable row level security;` (or drop the policies if the table is meant to be open).',
         n.nspname, c.relname) as remediation,
  jsonb_build_object('schema', n.nspname, 'name', c.relname, 'type', 'table', 'policies', to_jsonb(p.names)) as metadata,
  format('policy_exists_rls_disabled_%s_%s', n.nspname, c.relname) as cache_key
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
cross join lateral (
  select count(*) as n, array_agg(pol.polname::text order by pol.polname) as names
  from pg_policy pol where pol.polrelid = c.oid
) p
where c.relkind in ('r', 'p')
  and not c.relrowsecurity
  and not c.relispartition
  and p.n > 0
  and n.nspname <> all($2) and n.nspname !~ '^pg_'
